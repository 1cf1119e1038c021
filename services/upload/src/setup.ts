import { setupService } from '@instantpost/chassis';

// Migrates every logical shard schema of upload and declares the streams; run before the service starts.
await setupService('upload', new URL('./sql/migrations/', import.meta.url), {
  createDatabases: process.argv.includes('--create-databases'),
});
