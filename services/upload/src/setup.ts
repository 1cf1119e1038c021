import { setupCommand } from '@instantpost/chassis';

// Migrates every logical shard schema of upload and declares the streams; run before the service starts
// (`--help` for the usage).
await setupCommand('upload', new URL('./sql/migrations/', import.meta.url));
