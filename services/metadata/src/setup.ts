import { setupCommand } from '@instantpost/chassis';

// Migrates every logical shard schema of metadata and declares the streams; run before the service starts
// (`--help` for the usage).
await setupCommand('metadata', new URL('./sql/migrations/', import.meta.url));
