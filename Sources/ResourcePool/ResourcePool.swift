// ResourcePool — browser contexts over real devices, shard placement, routing with failover,
// real fault injection, and three recovery strategies. What the original tool only pretended.
//
// The contract:
// - A `BrowserContext` is a simulated browser: backend `webgpu` (its own VkDevice, or a queue
//   of a shared device in queue mode) or `webnn` (the CPU reference path). With process
//   isolation (Isolation/) each browser is its own OS process (the worker role) and the context
//   talks to it over a socket; with thread isolation it lives in this process. Its state machine
//   (ready, disconnected, crashed, recovering, failed) records every transition as a
//   `PoolEvent` with a monotonic timestamp.
// - `Placement` maps each shard of the `ShardPlan` to a context. The `Router` runs an inference
//   shard by shard; on a typed loss (queue or device lost, component missing, wait deadline) it
//   fails the shard over to the healthiest other context (uploading its weights there, timed)
//   or, last, to the CPU path — then the result is *degraded*, never reported as plain success.
//   Every output is compared with the CPU reference.
// - `FaultInjector` makes faults for real (README's table of phases): in process isolation a SIGKILL,
//   a socket shut down, a dispatch that never returns (`simulated: false`); a component failure,
//   and every fault in thread isolation, is a deliberate teardown of our own objects (`simulated`).
// - `RecoveryStrategy` (simple, progressive, coordinated) restores the pool step by step; every
//   step is timed, bytes re-uploaded are counted, retries are bounded (backoff with seeded
//   jitter), a restart budget gives up with a reason, and a `CircuitBreaker` per context stops
//   routing to a context that keeps dying.
// - No wait without a deadline: every GPU wait goes through VulkanCompute's bounded waits.
