import type { ComponentChildren } from 'preact';
import { navigate, pathOf, type Route } from '../router.ts';

/** An ordinary link (opens in a new tab, keyboard as usual) that moves within the app without a reload. */
export function Link(props: { to: Route; current?: boolean; children: ComponentChildren }) {
  return (
    <a
      href={pathOf(props.to)}
      aria-current={props.current ? 'page' : undefined}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}
