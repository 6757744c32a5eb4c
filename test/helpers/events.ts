import type { OomKillEvent } from '../../src/oom/event.js';

/** A kill event as the parser emits it, with only what ledger and metrics tests vary: pid and cgroup. */
export function killEvent(pid: number, victim: string | null): OomKillEvent {
  return {
    pid, process: 'hog', scope: 'cgroup', constraint: null, oom_cgroup: null, victim_cgroup: victim, uid: 0,
    total_vm_kb: null, anon_rss_kb: null, file_rss_kb: null, shmem_rss_kb: null, pgtables_kb: null, oom_score_adj: null,
    group_kill: false, partial: false, possibly_child: false, trigger_process: null, seq: pid, kernel_time_us: null, kill_time: null, unit: null, runtime: null,
    container_id: null, pod_uid: null, pod_qos: null,
    memory: null, memory_stat: null, mem_info: null, candidates: null, candidates_total: null,
  };
}
