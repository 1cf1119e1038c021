import { render } from 'preact';
import { ApiClient } from './api/client.ts';
import { Tokens } from './api/tokens.ts';
import { App } from './app.tsx';
import './style.css';

const api = new ApiClient(new Tokens(localStorage));
// A returning person's session is renewed while the first render happens, not after it (the app's
// first call waits for it; refresh() runs once however many ask).
void api.accessToken();
const root = document.getElementById('app');
if (root) render(<App api={api} />, root);
