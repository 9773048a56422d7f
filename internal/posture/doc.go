// Package posture judges a repository's recovery posture. Every judgement
// of "is this posture holding" lives here, once: a Control has an ID, a
// title, its parameters and the standards it evidences, and evaluating it
// gives a typed Finding (status, observed value, threshold, evidence,
// remedy). The data source, the CLI report, the resources' warnings (Judge
// on what a resource read, each non-passing finding's Problem as the
// summary) and the agent's lifeboat_posture_finding metric all read
// findings instead of deciding for themselves.
//
// Controls register themselves (register, in an init of the file of their
// family): a new control is a new file, not an edit of a shared list.
//
// Evaluation is split in two so that each half can be trusted on its own:
//
//   - Gather reads what exists: the bucket's lock, versioning and
//     encryption, the catalog (backups, tenant dumps, restorable window),
//     policy.json and drill schedules with their signers, the agent's job
//     records, drill evidence (its first, locked version), PostgreSQL's
//     pg_stat_archiver and archive_status, and a writer probe's outcome
//     when one is given. A read that fails is kept as an error in the
//     Observation, never dropped: the control it feeds becomes unknown,
//     with the error as its observed value.
//   - Evaluate turns an Observation into findings without I/O, so a report
//     is a pure function of what was read, and the same observation always
//     gives the same report.
//
// Rules the controls keep:
//
//   - A control never passes on missing data: what could not be observed is
//     unknown, what should exist and does not is fail.
//   - Thresholds come from Params, or from what the repository declares
//     (the policy's schedule, a drill's RTO target); the threshold used is
//     part of the finding, so a reviewer sees what was asked.
//   - Existing judgements are called, not recomputed: schedule.Overdue for
//     backups and dumps, catalog's restorable window, drill.Latest (which
//     reads the locked original of an evidence), pg.ArchiverStats.Failing.
//   - The mapping to standards is data (Standards), shown in every report.
package posture
