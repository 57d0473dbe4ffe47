package store

import (
	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/services/signer/internal/domain"
)

const licenseColumns = `id, workspace_id, sequence, plan_id, plan_version, address, token, kid, issued_at, expires_at, modules, trial, offline`

func scanLicense(row pgx.Row) (domain.License, error) {
	var l domain.License
	err := row.Scan(&l.ID, &l.WorkspaceID, &l.Sequence, &l.PlanID, &l.PlanVersion, &l.Address, &l.Token, &l.KeyID, &l.IssuedAt, &l.ExpiresAt, &l.Modules, &l.Trial, &l.Offline)
	return l, err
}
