import { render } from 'preact';
import { ApiClient } from './api/client.ts';
import { Tokens } from './api/tokens.ts';
import { App } from './app.tsx';
import './style.css';

const root = document.getElementById('app');
if (root) render(<App api={new ApiClient(new Tokens(localStorage))} />, root);
