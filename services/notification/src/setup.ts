import { setupCommand } from '@instantpost/chassis';

// Migrates every logical shard schema of notification and declares the streams; run before the service starts
// (`--help` for the usage).
await setupCommand('notification', new URL('./sql/migrations/', import.meta.url));
