/**
 * InstantPost's Grafana dashboards as code: an overview and one per service, written as JSON to
 * deploy/monitoring/dashboards/ (and copied into k8s/components/monitoring) by render-monitoring.ts.
 * Every expression reads only metrics the services export (deploy/local's monitoring-metrics test checks
 * them against real /metrics output) or the recording rules of deploy/monitoring/rules.
 */
import { servicePorts } from './code.ts';

type ServiceName = string;

interface Target {
  expr: string;
  legend: string;
}

interface PanelSpec {
  title: string;
  description?: string;
  targets: Target[];
  unit?: string;
  /** A single number (the last value) instead of a graph. */
  stat?: boolean;
  width?: number;
}

/** Probes and scrapes are not users' requests; the notification stream lasts as long as its connection. */
const NOT_PROBES = 'route!~"/healthz|/readyz|/metrics"';
const NOT_LONG = 'route!~"/healthz|/readyz|/metrics|/v1/notifications/stream"';
const RATE = '$__rate_interval';

const target = (expr: string, legend: string): Target => ({ expr, legend });

function panel(spec: PanelSpec, id: number, x: number, y: number) {
  const width = spec.width ?? 12;
  const base = {
    id,
    title: spec.title,
    description: spec.description ?? '',
    datasource: { type: 'prometheus', uid: '$datasource' },
    gridPos: { h: spec.stat ? 4 : 8, w: width, x, y },
    targets: spec.targets.map((t, i) => ({
      datasource: { type: 'prometheus', uid: '$datasource' },
      expr: t.expr,
      legendFormat: t.legend,
      refId: String.fromCharCode(65 + i),
    })),
    fieldConfig: { defaults: { unit: spec.unit ?? 'short' }, overrides: [] },
  };
  if (spec.stat) {
    return {
      ...base,
      type: 'stat',
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'area',
        textMode: 'auto',
      },
    };
  }
  return {
    ...base,
    type: 'timeseries',
    options: {
      legend: { displayMode: 'table', placement: 'bottom', calcs: ['mean', 'max'] },
      tooltip: { mode: 'multi' },
    },
  };
}

/** Rows of panels laid out left to right, wrapping at Grafana's 24 columns. */
function layout(rows: { title: string; panels: PanelSpec[] }[]) {
  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    panels.push({
      id: id++,
      type: 'row',
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const spec of row.panels) {
      const p = panel(spec, id++, x, y);
      if (x + p.gridPos.w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
        p.gridPos.x = 0;
        p.gridPos.y = y;
      }
      panels.push(p);
      x += p.gridPos.w;
      rowHeight = Math.max(rowHeight, p.gridPos.h);
    }
    y += rowHeight;
  }
  return panels;
}

function dashboard(
  uid: string,
  title: string,
  description: string,
  rows: { title: string; panels: PanelSpec[] }[],
  service?: ServiceName,
) {
  const templating = [
    {
      name: 'datasource',
      label: 'Prometheus',
      type: 'datasource',
      query: 'prometheus',
      current: {},
      hide: 0,
    },
  ];
  return {
    uid,
    title,
    description,
    tags: ['instantpost', ...(service ? [service] : ['overview'])],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    links: [{ title: 'InstantPost', type: 'dashboards', tags: ['instantpost'], asDropdown: true }],
    templating: { list: templating },
    annotations: {
      list: [
        {
          name: 'Alerts',
          datasource: { type: 'prometheus', uid: '$datasource' },
          enable: true,
          expr: `ALERTS{alertstate="firing",alertname=~"InstantPost.*"${service ? `,service=~"${service}|"` : ''}}`,
          iconColor: 'red',
          step: '1m',
          titleFormat: '{{alertname}}',
          textFormat: '{{service}} {{consumer}}',
        },
      ],
    },
    panels: layout(rows),
  };
}

/** Requests, errors and durations (RED) of the services selected by `selector`, per route. */
function redPanels(selector: string): PanelSpec[] {
  const sel = selector ? `${selector},` : '';
  return [
    {
      title: 'Requests per second by route',
      targets: [
        target(
          `sum by (service, method, route) (rate(http_request_duration_seconds_count{${sel}${NOT_PROBES}}[${RATE}]))`,
          '{{service}} {{method}} {{route}}',
        ),
      ],
      unit: 'reqps',
    },
    {
      title: '5xx share by route',
      description: 'Answers with a 5xx status, as a share of all answers of the route.',
      targets: [
        target(
          `sum by (service, method, route) (rate(http_request_duration_seconds_count{${sel}${NOT_PROBES},status_code=~"5.."}[${RATE}])) / sum by (service, method, route) (rate(http_request_duration_seconds_count{${sel}${NOT_PROBES}}[${RATE}]))`,
          '{{service}} {{method}} {{route}}',
        ),
      ],
      unit: 'percentunit',
    },
    {
      title: 'p99 duration by route',
      description: 'The notification stream is left out: its duration is the life of a connection.',
      targets: [
        target(
          `histogram_quantile(0.99, sum by (service, method, route, le) (rate(http_request_duration_seconds_bucket{${sel}${NOT_LONG}}[${RATE}])))`,
          '{{service}} {{method}} {{route}}',
        ),
      ],
      unit: 's',
    },
    {
      title: 'Answers by status',
      targets: [
        target(
          `sum by (service, status_code) (rate(http_request_duration_seconds_count{${sel}${NOT_PROBES}}[${RATE}]))`,
          '{{service}} {{status_code}}',
        ),
      ],
      unit: 'reqps',
    },
  ];
}

function eventPanels(selector: string): PanelSpec[] {
  const sel = selector ? `{${selector}}` : '';
  const outcome = selector ? `{${selector}}` : '';
  return [
    {
      title: 'Consumer lag (events not yet delivered)',
      targets: [
        target(
          `max by (consumer, stream) (instantpost_consumer_pending_events${sel})`,
          '{{consumer}} ({{stream}})',
        ),
      ],
    },
    {
      title: 'Delivered, not acked / redelivered',
      targets: [
        target(
          `max by (consumer) (instantpost_consumer_ack_pending_events${sel})`,
          '{{consumer}} ack pending',
        ),
        target(
          `max by (consumer) (instantpost_consumer_redelivered_events${sel})`,
          '{{consumer}} redelivered',
        ),
      ],
    },
    {
      title: 'Consumer outcomes',
      targets: [
        target(
          `sum by (consumer, outcome) (rate(instantpost_consumer_outcomes_total${outcome}[${RATE}]))`,
          '{{consumer}} {{outcome}}',
        ),
      ],
      unit: 'ops',
    },
    {
      title: 'Consumer handling p99',
      targets: [
        target(
          `histogram_quantile(0.99, sum by (consumer, subject, le) (rate(instantpost_consumer_handle_seconds_bucket${outcome}[${RATE}])))`,
          '{{consumer}} {{subject}}',
        ),
      ],
      unit: 's',
    },
    {
      title: 'Outbox: age of the oldest unsent event',
      description: 'The relay’s lag; InstantPostOutboxStale fires above 60 s.',
      targets: [target(`max by (service) (instantpost_outbox_oldest_unsent_seconds${sel})`, '{{service}}')],
      unit: 's',
    },
    {
      title: 'Outbox: unsent events',
      targets: [target(`max by (service) (instantpost_outbox_unsent_events${sel})`, '{{service}}')],
    },
  ];
}

function processPanels(service: ServiceName): PanelSpec[] {
  const sel = `{service="${service}"}`;
  return [
    {
      title: 'CPU',
      targets: [target(`rate(process_cpu_seconds_total${sel}[${RATE}])`, '{{instance}}')],
      unit: 'percentunit',
    },
    {
      title: 'Resident memory',
      targets: [target(`process_resident_memory_bytes${sel}`, '{{instance}}')],
      unit: 'bytes',
    },
    {
      title: 'Event loop lag p99',
      targets: [target(`nodejs_eventloop_lag_p99_seconds${sel}`, '{{instance}}')],
      unit: 's',
    },
    {
      title: 'Scrape targets up',
      targets: [target(`up{job="${service}"}`, '{{instance}}')],
    },
  ];
}

const DLQ: PanelSpec = {
  title: 'Dead letters (DLQ)',
  description: 'Events no consumer could handle, waiting for an operator (k8s/README.md: the DLQ).',
  targets: [target('max(instantpost_dlq_events)', 'DLQ')],
  stat: true,
  width: 6,
};

/** What only this service does. */
function ownPanels(service: ServiceName): PanelSpec[] {
  switch (service) {
    case 'upload':
      return [
        {
          title: 'Uploads by outcome',
          targets: [target(`sum by (outcome) (rate(instantpost_uploads_total[${RATE}]))`, '{{outcome}}')],
          unit: 'ops',
        },
      ];
    case 'media-processing':
      return [
        {
          title: 'Photos processed per second',
          targets: [target(`sum(rate(instantpost_media_processing_seconds_count[${RATE}]))`, 'photos')],
          unit: 'ops',
        },
        {
          title: 'Processing time per photo',
          targets: [
            target(
              `histogram_quantile(0.5, sum by (le) (rate(instantpost_media_processing_seconds_bucket[${RATE}])))`,
              'p50',
            ),
            target(
              `histogram_quantile(0.99, sum by (le) (rate(instantpost_media_processing_seconds_bucket[${RATE}])))`,
              'p99',
            ),
          ],
          unit: 's',
        },
      ];
    case 'metadata':
      return [
        {
          title: 'Logins by outcome',
          targets: [target(`sum by (outcome) (rate(instantpost_logins_total[${RATE}]))`, '{{outcome}}')],
          unit: 'ops',
        },
        DLQ,
      ];
    case 'feed':
      return [
        {
          title: 'Timelines written by the fan-out',
          targets: [target(`sum(rate(instantpost_fanout_timelines_total[${RATE}]))`, 'timelines')],
          unit: 'ops',
        },
        {
          title: 'Fan-out time per post',
          targets: [
            target(
              `histogram_quantile(0.5, sum by (le) (rate(instantpost_fanout_seconds_bucket[${RATE}])))`,
              'p50',
            ),
            target(
              `histogram_quantile(0.99, sum by (le) (rate(instantpost_fanout_seconds_bucket[${RATE}])))`,
              'p99',
            ),
          ],
          unit: 's',
        },
      ];
    case 'notification':
      return [
        {
          title: 'Open notification streams',
          targets: [target('sum(instantpost_sse_streams)', 'streams')],
        },
      ];
    default:
      return [];
  }
}

function overview() {
  return dashboard(
    'instantpost-overview',
    'InstantPost / Overview',
    'Every service: RED per route, the SLO, the event backbone, processing, fan-out and streams.',
    [
      {
        title: 'SLO: API availability 99.9 %',
        panels: [
          {
            title: '5xx share of the API',
            description: 'The SLI of the burn-rate alerts (recording rules of deploy/monitoring/rules).',
            targets: [
              target('instantpost:api_errors:ratio_rate5m', '5 m'),
              target('instantpost:api_errors:ratio_rate1h', '1 h'),
              target('instantpost:api_errors:ratio_rate6h', '6 h'),
            ],
            unit: 'percentunit',
          },
          {
            title: 'Error budget burn rate (1 h)',
            description: 'Pages at 14.4 (1 h and 5 m) and 6 (6 h and 30 m).',
            targets: [target('instantpost:api_errors:ratio_rate1h / 0.001', 'burn rate')],
          },
          DLQ,
          {
            title: 'Open notification streams',
            targets: [target('sum(instantpost_sse_streams)', 'streams')],
            stat: true,
            width: 6,
          },
          {
            title: 'Targets down',
            targets: [
              target(`count(up{job=~"${Object.keys(servicePorts()).join('|')}"} == 0) or vector(0)`, 'down'),
            ],
            stat: true,
            width: 6,
          },
          {
            title: 'Firing alerts',
            targets: [
              target('count(ALERTS{alertstate="firing",alertname=~"InstantPost.*"}) or vector(0)', 'alerts'),
            ],
            stat: true,
            width: 6,
          },
        ],
      },
      { title: 'Requests (RED per route)', panels: redPanels('') },
      { title: 'Events: consumers and outboxes', panels: eventPanels('') },
      {
        title: 'Work',
        panels: [
          ...ownPanels('upload'),
          ...ownPanels('metadata').filter((p) => p !== DLQ),
          ...ownPanels('media-processing'),
          ...ownPanels('feed'),
          {
            title: 'Open notification streams',
            targets: [target('sum by (service) (instantpost_sse_streams)', '{{service}}')],
          },
        ],
      },
    ],
  );
}

function serviceDashboard(service: ServiceName) {
  const selector = `service="${service}"`;
  return dashboard(
    `instantpost-${service}`,
    `InstantPost / ${service}`,
    `${service}: its requests, its own metrics, its consumers and outbox, its processes.`,
    [
      { title: 'Requests', panels: redPanels(selector) },
      { title: service, panels: ownPanels(service) },
      { title: 'Events', panels: eventPanels(selector) },
      { title: 'Process', panels: processPanels(service) },
    ],
    service,
  );
}

/** Every dashboard by file name (`overview.json`, `<service>.json`). */
export function dashboards(): Map<string, unknown> {
  const out = new Map<string, unknown>([['overview.json', overview()]]);
  for (const service of Object.keys(servicePorts())) out.set(`${service}.json`, serviceDashboard(service));
  return out;
}

export function dashboardJson(dashboard: unknown): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
