import { setupCommand } from '@instantpost/chassis';

// Migrates every logical shard schema of feed and declares the streams; run before the service starts
// (`--help` for the usage).
await setupCommand('feed', new URL('./sql/migrations/', import.meta.url));
