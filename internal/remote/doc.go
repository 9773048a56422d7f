// Package remote hands host-side work from the provider to the agent on the
// database host, through the repository only: no inbound port on a
// database host, and Terraform may run anywhere (a CI runner) that reaches
// the bucket.
//
// A request's objects, all spelled by repo.Layout:
//
//	<root>/requests/<id>/request.json    what to do; written once by the provider, signed
//	<root>/leases/request-<id>/<gen>.json who executes it now (the agentd lease)
//	<root>/requests/<id>/progress.json    how far the executing agent got
//	<root>/requests/<id>/result.json      the outcome, written once
//	<root>/requests/<id>/ack.json         the provider has read the outcome into its state
//	<root>/agents/<host>.json             each agent's heartbeat
//
// The provider submits (Submit), then waits (Wait), streaming progress
// into its log, and acknowledges the result once it is in state (Ack). The
// agent (Worker) looks for requests addressed to its host or to any agent
// of the cluster, claims one with the agentd lease, executes it while
// renewing the lease, reports progress, writes the result, and releases.
//
// Safety rules, each with a test:
//   - a request is executed by one agent at a time: the claim is the
//     agentd lease (a conditional put of the next generation), and the
//     result is written with a conditional put, so it is written once;
//   - an agent reads the result again under the lease before executing,
//     so two agents on one host name, or one agent seeing a request
//     twice, never run it twice;
//   - an agent that dies mid-work stops renewing its lease: another agent
//     takes the request over (a restore into a directory its failed
//     predecessor left starts over), and if none does within the claim
//     timeout the provider withdraws it; a request is reported done only
//     by the result of an execution that finished;
//   - the provider withdraws a request it gives up on (no agent claimed
//     it in time) by taking the request's lease itself, so an agent can
//     never start it afterwards: nothing is left half done;
//   - the request's id is the digest of its definition plus a generation:
//     a retried apply of the same definition reuses the pending (or done,
//     not yet acknowledged) request, and replaces a failed, withdrawn or
//     acknowledged one with the next generation;
//   - an agent given trusted keys refuses a request without a valid
//     signature of one of them, and records the refusal as the result, so
//     writer credentials cannot order a restore.
package remote
