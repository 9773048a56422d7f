// Backup and disaster-recovery posture of PostgreSQL-centred platforms, as code. Derived from the Terraform provider's schema; every resource is served by the Terraform provider in-process.
package lifeboat
