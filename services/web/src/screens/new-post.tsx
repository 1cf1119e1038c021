import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import { messageOf } from '../api/errors.ts';
import type { MediaStatus } from '../api/types.ts';
import { uploadPhoto } from '../api/upload.ts';
import { Link } from '../ui/link.tsx';

const ACCEPT = 'image/jpeg,image/png,image/webp,image/avif';
const POLL_MS = 1000;

type Stage =
  | { kind: 'editing' }
  | { kind: 'uploading'; fraction: number }
  | { kind: 'processing' }
  | { kind: 'published' }
  | { kind: 'rejected'; reason: string };

/** Pick a photo, see it, caption it, share it: upload progress, then processing until published. */
export function NewPost({ api }: { api: ApiClient }) {
  const [file, setFile] = useState<File>();
  const [preview, setPreview] = useState<string>();
  const [stage, setStage] = useState<Stage>({ kind: 'editing' });
  const [error, setError] = useState<string>();
  const alive = useRef(true);

  useEffect(
    () => () => {
      alive.current = false;
    },
    [],
  );
  useEffect(() => {
    if (!file) return;
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);

  const share = async (e: SubmitEvent) => {
    e.preventDefault();
    if (!file) return;
    const data = new FormData(e.currentTarget as HTMLFormElement);
    setError(undefined);
    setStage({ kind: 'uploading', fraction: 0 });
    try {
      const accepted = await uploadPhoto(
        api,
        {
          photo: file,
          caption: String(data.get('caption') ?? ''),
          altText: String(data.get('altText') ?? ''),
        },
        (fraction) => setStage({ kind: 'uploading', fraction }),
      );
      setStage({ kind: 'processing' });
      const done = await untilDone(api, accepted, () => alive.current);
      if (!alive.current) return;
      setStage(
        done.status === 'published'
          ? { kind: 'published' }
          : { kind: 'rejected', reason: done.reason ?? 'the photo could not be processed' },
      );
    } catch (err) {
      if (!alive.current) return;
      setError(messageOf(err));
      setStage({ kind: 'editing' });
    }
  };

  const busy = stage.kind === 'uploading' || stage.kind === 'processing';
  return (
    <main>
      <h1>New post</h1>
      <form class="new-post" onSubmit={(e) => void share(e)}>
        <label for="photo">Photo</label>
        <input
          id="photo"
          name="photo"
          type="file"
          accept={ACCEPT}
          required
          disabled={busy}
          onChange={(e) => {
            setFile(e.currentTarget.files?.[0]);
            setStage({ kind: 'editing' });
          }}
        />
        {preview && <img class="preview" src={preview} alt="Preview of what you are about to share" />}
        <label for="caption">Caption</label>
        <textarea id="caption" name="caption" maxLength={2200} rows={3} disabled={busy} />
        <label for="altText">Alt text</label>
        <input id="altText" name="altText" maxLength={1000} disabled={busy} aria-describedby="alt-hint" />
        <p id="alt-hint" class="hint">
          Describe the photo for people who cannot see it.
        </p>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={!file || busy}>
          Share
        </button>
      </form>
      <div role="status" class="upload-status">
        {stage.kind === 'uploading' && (
          <>
            <label for="upload-progress">Uploading</label>
            <progress id="upload-progress" max={100} value={Math.round(stage.fraction * 100)} />
          </>
        )}
        {stage.kind === 'processing' && <p>Processing…</p>}
        {stage.kind === 'published' && (
          <p>
            Published. <Link to={{ name: 'home' }}>See it in your feed</Link>
          </p>
        )}
        {stage.kind === 'rejected' && <p class="error">Rejected: {stage.reason}</p>}
      </div>
    </main>
  );
}

/** Polls the upload's status until processing ends (or nobody is looking any more). */
async function untilDone(api: ApiClient, accepted: MediaStatus, wanted: () => boolean): Promise<MediaStatus> {
  let status = accepted;
  while (status.status === 'processing' && wanted()) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    status = await api.get<MediaStatus>(`/v1/media/${accepted.id}/status`);
  }
  return status;
}
