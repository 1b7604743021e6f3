// FaultTest — the original tool's scenarios, done for real: a fresh pool per scenario, six
// timed phases (initialize, initial_inference, fault_injection, fault_inference, recovery,
// recovery_inference), every inference checked against the CPU reference, and one report model
// (Report/) written as terminal text, JSON and JUnit. A scenario passes only if every phase
// does — fault_inference included, which the original ignored.
