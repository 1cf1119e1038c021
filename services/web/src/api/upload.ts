import type { ApiClient } from './client.ts';
import { ApiError, problemOf } from './errors.ts';
import type { MediaStatus } from './types.ts';

export interface UploadFields {
  photo: File;
  caption: string;
  altText: string;
}

/**
 * POST /v1/media with the upload's progress (fetch reports none): XMLHttpRequest's `upload.onprogress`.
 * A 401 refreshes the session once and sends again.
 */
export async function uploadPhoto(
  api: ApiClient,
  fields: UploadFields,
  onProgress: (fraction: number) => void,
): Promise<MediaStatus> {
  const form = new FormData();
  if (fields.caption) form.set('caption', fields.caption);
  if (fields.altText) form.set('altText', fields.altText);
  form.set('photo', fields.photo, fields.photo.name);
  const token = await api.accessToken();
  let res = await sendForm(form, token, onProgress);
  if (res.status === 401 && (await api.refresh())) {
    onProgress(0);
    res = await sendForm(form, api.tokens.access, onProgress);
  }
  if (res.status !== 202) throw new ApiError(res.status, problemOf(res.status, res.text));
  return JSON.parse(res.text) as MediaStatus;
}

function sendForm(
  form: FormData,
  token: string | undefined,
  onProgress: (fraction: number) => void,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/media');
    xhr.setRequestHeader('accept', 'application/json');
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => reject(new ApiError(0, undefined));
    xhr.send(form);
  });
}
