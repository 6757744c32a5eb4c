/**
 * A metric source. The daemon runs every collector of the table in src/collectors/index.ts once
 * per poll; one that throws shows as oomwatch_collector_success{collector} 0 and never fails the
 * scrape or the daemon.
 */
export interface Collector {
  readonly name: string;
  update(now: number): void;
}
