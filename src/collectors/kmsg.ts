import { Gauge, Counter, type Registry } from 'prom-client';
import type { Collector } from './collector.js';
import { CounterMirror } from './mirror.js';

/** What the kernel log side reports to the metrics: the reader's counters, or why it is down. */
export interface KmsgStatus {
  up: boolean;
  records: number;
  lost: number;
  foreign: number;
  malformed: number;
}

/** The /dev/kmsg reader's health and counters. */
export class KmsgCollector implements Collector {
  readonly name = 'kmsg';
  private readonly up: Gauge;
  private readonly records: CounterMirror<never>;
  private readonly lost: CounterMirror<never>;
  private readonly foreign: CounterMirror<never>;
  private readonly malformed: CounterMirror<never>;

  constructor(
    registry: Registry,
    private readonly status: () => KmsgStatus,
  ) {
    const registers = [registry];
    const c = (name: string, help: string) => new CounterMirror<never>(new Counter({ name, help, registers }));
    this.up = new Gauge({ name: 'oomwatch_kmsg_up', help: '1 while the kernel log (/dev/kmsg) is being read, 0 when it cannot be (no CAP_SYSLOG, no device)', registers });
    this.records = c('oomwatch_kmsg_records_total', 'Kernel log records read');
    this.lost = c('oomwatch_kmsg_lost_records_total', 'Kernel log records lost before oomwatch read them (ring buffer overrun, SEQ gaps, downtime)');
    this.foreign = c('oomwatch_kmsg_foreign_records_total', 'Records written to /dev/kmsg by userspace (facility >= 1): never taken for the kernel');
    this.malformed = c('oomwatch_kmsg_malformed_records_total', 'Records whose prefix could not be parsed (skipped)');
  }

  update(): void {
    const s = this.status();
    this.up.set(s.up ? 1 : 0);
    this.records.set({}, s.records);
    this.lost.set({}, s.lost);
    this.foreign.set({}, s.foreign);
    this.malformed.set({}, s.malformed);
  }
}
