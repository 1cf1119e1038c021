import { type BuiltService, createServiceApp, type ServiceContext } from '@instantpost/chassis';
import type { ConfigOf } from '@instantpost/config';
import type { configSpec } from './config.ts';

export type Context = ServiceContext<ConfigOf<typeof configSpec>>;

/** Builds feed's HTTP app and background work from its clients; tests build the same app. */
export async function buildApp(ctx: Context): Promise<BuiltService> {
  const app = await createServiceApp('feed', ctx);
  return { app };
}
