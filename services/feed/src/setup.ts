import { setupService } from '@instantpost/chassis';

// Migrates every logical shard schema of feed and declares the streams; run before the service starts.
await setupService('feed', new URL('./sql/migrations/', import.meta.url), {
  createDatabases: process.argv.includes('--create-databases'),
});
