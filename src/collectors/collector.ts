/**
 * A metric source. The daemon's CollectorRunner (runner.ts) runs every registered collector once
 * per poll; one that throws shows as oomwatch_collector_success{collector} 0 and never fails the
 * scrape or the daemon.
 */
export interface Collector {
  readonly name: string;
  update(now: number): void;
  /**
   * The same in slices that yield to the event loop, for a collector whose run can take long
   * (thousands of cgroups): the runner uses it when present, so /metrics is answered meanwhile.
   * It returns early, between slices, once `stopping()` is true.
   */
  updateInSlices?(now: number, stopping: () => boolean): Promise<void>;
}
