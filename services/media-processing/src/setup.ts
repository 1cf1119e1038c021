import { setupCommand } from '@instantpost/chassis';

// Migrates every logical shard schema of media-processing and declares the streams; run before the service starts
// (`--help` for the usage).
await setupCommand('media-processing', new URL('./sql/migrations/', import.meta.url));
