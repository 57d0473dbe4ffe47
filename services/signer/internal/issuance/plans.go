package issuance

import (
	"context"
	"fmt"

	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// CreatePlan adds plan p (its ID, Name, Free, Modules and DefinitionJSON)
// at version 1, after checking that every license it could produce
// validates.
func (s *Service) CreatePlan(ctx context.Context, idem Idempotency, p domain.Plan) (domain.Plan, error) {
	if err := idem.Check(); err != nil {
		return domain.Plan{}, err
	}
	p.Version, p.IsDefault, p.UpdatedAt = 1, false, s.Now()
	if err := parsePlan(&p); err != nil {
		return domain.Plan{}, err
	}
	var out domain.Plan
	err := s.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		out, err = once(ctx, tx, idem, func() (domain.Plan, error) { return p, tx.CreatePlan(ctx, p) })
		return err
	})
	return out, err
}

// PublishPlanVersion publishes p (Name, Modules, DefinitionJSON) as the
// next version of plan p.ID. A plan stays free or paid for life. expected,
// when not 0, must be the current version.
func (s *Service) PublishPlanVersion(ctx context.Context, idem Idempotency, p domain.Plan, expected int) (domain.Plan, error) {
	if err := idem.Check(); err != nil {
		return domain.Plan{}, err
	}
	if p.ID == "" {
		return domain.Plan{}, validate.Field("id", "required")
	}
	var out domain.Plan
	err := s.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		out, err = once(ctx, tx, idem, func() (domain.Plan, error) {
			cur, err := tx.LockPlan(ctx, p.ID)
			if err != nil {
				return domain.Plan{}, err
			}
			if expected != 0 && expected != cur.Version {
				return domain.Plan{}, fmt.Errorf("%w: plan %q is at version %d, not %d", domain.ErrPlanVersionConflict, p.ID, cur.Version, expected)
			}
			next := p
			next.Free, next.IsDefault, next.Version, next.UpdatedAt = cur.Free, cur.IsDefault, cur.Version+1, s.Now()
			if err := parsePlan(&next); err != nil {
				return domain.Plan{}, err
			}
			return next, tx.PublishPlanVersion(ctx, next)
		})
		return err
	})
	return out, err
}

// parsePlan decodes p's definition strictly and validates the plan.
func parsePlan(p *domain.Plan) error {
	def, err := domain.ParseDefinition(p.DefinitionJSON)
	if err != nil {
		return validate.Field("definition", "%v", err)
	}
	p.Definition = def
	return p.Validate()
}
