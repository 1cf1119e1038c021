import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import { ApiError, messageOf } from '../api/errors.ts';
import type { FollowReply, PostPage, Profile as ProfileData } from '../api/types.ts';
import { Link } from '../ui/link.tsx';
import { MoreBelow, pageQuery, usePages } from '../ui/pages.tsx';
import { altOf, thumbOf } from '../ui/photo.ts';

/** Four rows of three squares a page. */
const GRID_PAGE = 12;

type Relation = 'self' | 'none' | 'following' | 'requested';

const relationOf = (api: ApiClient, profile: ProfileData): Relation =>
  api.tokens.user?.id === profile.id
    ? 'self'
    : profile.viewer.following
      ? 'following'
      : profile.viewer.requested
        ? 'requested'
        : 'none';

const count = (n: number, one: string, many: string) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** Someone's profile: name, bio, counts, Follow / Following / Requested, and their grid when visible. */
export function Profile({ api, username }: { api: ApiClient; username: string }) {
  const [profile, setProfile] = useState<ProfileData>();
  const [relation, setRelation] = useState<Relation>('none');
  const [error, setError] = useState<string>();

  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const found = await api.get<ProfileData>(`/v1/users/${encodeURIComponent(username)}`);
        if (!live) return;
        setProfile(found);
        setRelation(relationOf(api, found));
      } catch (err) {
        if (live)
          setError(err instanceof ApiError && err.status === 404 ? 'No such account.' : messageOf(err));
      }
    })();
    return () => {
      live = false;
    };
  }, [api, username]);

  const canSee =
    profile !== undefined && (!profile.isPrivate || relation === 'self' || relation === 'following');

  const toggleFollow = async () => {
    if (!profile || relation === 'self') return;
    setError(undefined);
    try {
      if (relation === 'none') {
        const reply = await api.post<FollowReply>(`/v1/users/${profile.id}/follow`);
        setRelation(reply.state === 'following' ? 'following' : 'requested');
      } else {
        await api.delete(`/v1/users/${profile.id}/follow`);
        setRelation('none');
      }
    } catch (err) {
      setError(messageOf(err));
    }
  };

  if (!profile) {
    return <main>{error ? <p role="alert">{error}</p> : <p class="loading">Loading…</p>}</main>;
  }
  return (
    <main class="profile">
      <header>
        <h1>{profile.username}</h1>
        {profile.displayName && profile.displayName !== profile.username && <p>{profile.displayName}</p>}
        {profile.bio && <p class="bio">{profile.bio}</p>}
        <ul class="counts">
          <li>{count(profile.counts.posts, 'post', 'posts')}</li>
          <li>{count(profile.counts.followers, 'follower', 'followers')}</li>
          <li>{count(profile.counts.following, 'following', 'following')}</li>
        </ul>
        {relation === 'self' && <Link to={{ name: 'settings' }}>Settings</Link>}
        {relation !== 'self' && (
          <button
            type="button"
            class={relation === 'none' ? undefined : 'secondary'}
            onClick={() => void toggleFollow()}
          >
            {relation === 'none' ? 'Follow' : relation === 'following' ? 'Following' : 'Requested'}
          </button>
        )}
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </header>
      {!canSee && <p class="empty">This account is private. Follow it to see its photos.</p>}
      {canSee && <Grid api={api} profile={profile} />}
    </main>
  );
}

/** The account's posts as square thumbs, newest first, each leading to its page; endless scrolling. */
function Grid({ api, profile }: { api: ApiClient; profile: ProfileData }) {
  const fetchPage = useCallback(
    (cursor?: string) => api.get<PostPage>(`/v1/users/${profile.id}/posts?${pageQuery(GRID_PAGE, cursor)}`),
    [api, profile.id],
  );
  const pages = usePages(fetchPage);
  const posts = pages.items;
  return (
    <>
      {!pages.more && posts.length === 0 && <p class="empty">No posts yet.</p>}
      {posts.length > 0 && (
        <ul class="grid" aria-label={`Posts by ${profile.username}`}>
          {posts.map((post) => {
            const webp = thumbOf(post.media.renditions, 'webp');
            const jpeg = thumbOf(post.media.renditions, 'jpeg');
            return (
              <li key={post.id}>
                <Link to={{ name: 'post', id: post.id }}>
                  <picture>
                    {webp && <source type="image/webp" srcset={webp.url} />}
                    <img src={jpeg?.url} width={150} height={150} alt={altOf(post)} loading="lazy" />
                  </picture>
                </Link>
              </li>
            );
          })}
        </ul>
      )}
      <MoreBelow pages={pages} />
    </>
  );
}
