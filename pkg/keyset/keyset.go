// Package keyset manages a signing keyset kept in a service's own schema:
// keys with ids, windows and states, their changes (bootstrap, rotation,
// import, revocation) each in one transaction with its keyset.changed event,
// and the in-memory keys.Ring that signing reads, refreshed on every change.
// The signer keeps the license keyset with it, the token service the
// access-token keyset.
package keyset

import (
	"context"
	"crypto/rsa"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/validate"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
)

//go:embed sql/*.sql
var migrations embed.FS

// Migrations are the keyset's tables, applied in the owning service's schema
// (app.Start's shared sources), before the service's own migrations.
func Migrations() pgdb.Source {
	sub, _ := fs.Sub(migrations, "sql")
	return pgdb.Source{Name: "keyset", FS: sub}
}

// Errors of keyset changes.
var (
	// ErrKeyExists: importing a key the keyset holds already.
	ErrKeyExists = errors.New("signing key exists already")
	// ErrKeyNotFound: no key with that kid.
	ErrKeyNotFound = errors.New("signing key not found")
	// ErrKeyRevoked: changing a key that is revoked.
	ErrKeyRevoked = errors.New("signing key is revoked")
	// ErrNoNextKey: rotating a keyset with no next key.
	ErrNoNextKey = errors.New("the keyset has no next key")
	// ErrNextKeyTooNew: rotating before the next key has been published for
	// the publish lead.
	ErrNextKeyTooNew = errors.New("the next key has not been published long enough")
)

// Kinds of change, as keyset.changed names them.
const (
	ChangeCreated  = "created"
	ChangeRotated  = "rotated"
	ChangeImported = "imported"
	ChangeRevoked  = "revoked"
)

// Change is one committed change of the keyset.
type Change struct {
	Kind    string
	KID     string
	Version int64
	At      time.Time
	// Keys is the keyset after the change.
	Keys []Key
}

// Hook is called inside the transaction of every change, after the change
// and its event are written: what it writes commits or rolls back with the
// change (the issuance log appends its "keyset change" entry here).
type Hook func(ctx context.Context, tx pgx.Tx, c Change) error

// Config names a keyset and sets its timing.
type Config struct {
	// Purpose names the keyset ("license", "access-token"): the aggregate
	// of its keyset.changed events.
	Purpose string
	// PublishLead is how long a key is published as next before a rotation
	// may promote it: longer than any verifier caches the keyset.
	PublishLead time.Duration
	// VerifyAfterRetire is how long a retired key's signatures keep
	// verifying: longer than anything it signed is meant to be used.
	VerifyAfterRetire time.Duration
}

// Service changes the keyset and keeps the ring current.
type Service struct {
	pool    *pgxpool.Pool
	ring    *keys.Ring
	backend keys.Backend
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	hooks   []Hook
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the service read the time from now (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithHook adds a hook run in every change's transaction.
func WithHook(h Hook) Option { return func(s *Service) { s.hooks = append(s.hooks, h) } }

// New returns the service over the keyset in pool's schema. New keys go to
// backend; ring must be able to open them.
func New(pool *pgxpool.Pool, ring *keys.Ring, backend keys.Backend, cfg Config, log *slog.Logger, opts ...Option) *Service {
	s := &Service{pool: pool, ring: ring, backend: backend, cfg: cfg, log: log, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Manager is what signing uses: the ring.
func (s *Service) Manager() keys.Manager { return s.ring }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Keys returns the keyset, newest first.
func (s *Service) Keys(ctx context.Context) ([]Key, error) {
	return listKeys(ctx, s.pool)
}

// Reload reads the keyset into the ring.
func (s *Service) Reload(ctx context.Context) error {
	all, err := listKeys(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("load %s keyset: %w", s.cfg.Purpose, err)
	}
	recs := make([]keys.Record, len(all))
	for i, k := range all {
		recs[i] = k.Record
	}
	return s.ring.Load(ctx, recs)
}

// Bootstrap gives an empty keyset its first keys: initial (the configured
// key file's, so workspaces that trust it keep verifying) as active and a
// new next key. A keyset that has keys is only loaded.
func (s *Service) Bootstrap(ctx context.Context, initial *rsa.PrivateKey) error {
	existing, err := listKeys(ctx, s.pool)
	if err != nil {
		return err
	}
	if len(existing) == 0 {
		active, err := s.importRecord(ctx, initial)
		if err != nil {
			return err
		}
		next, err := s.generate(ctx)
		if err != nil {
			return err
		}
		err = s.change(ctx, func(tx pgx.Tx, all []Key, now time.Time) (string, string, error) {
			if len(all) > 0 {
				return "", "", nil // another replica bootstrapped first
			}
			// The seed key may have signed before the keyset existed (an
			// upgraded deployment), so its signing window has an open start.
			active.State, active.CreatedAt = keys.StateActive, now
			next.CreatedAt = now
			if err := insertKey(ctx, tx, active); err != nil {
				return "", "", err
			}
			return ChangeCreated, active.ID, insertKey(ctx, tx, next)
		})
		if err != nil {
			return err
		}
	}
	return s.Reload(ctx)
}

// RotateResult is the keyset's three working keys after a rotation.
type RotateResult struct {
	Active, Next Key
	// Retired is the key that was active; zero when there was none.
	Retired Key
}

// Rotate promotes the next key to active, retires the active key (its
// signatures verify for VerifyAfterRetire more) and publishes a new next
// key. Unless force is set, the next key must have been published for the
// publish lead, so every verifier already holds it.
func (s *Service) Rotate(ctx context.Context, force bool) (RotateResult, error) {
	fresh, err := s.generate(ctx)
	if err != nil {
		return RotateResult{}, err
	}
	var res RotateResult
	err = s.change(ctx, func(tx pgx.Tx, all []Key, now time.Time) (string, string, error) {
		next, ok := find(all, keys.StateNext)
		if !ok {
			return "", "", ErrNoNextKey
		}
		if ready := next.CreatedAt.Add(s.cfg.PublishLead); !force && now.Before(ready) {
			return "", "", fmt.Errorf("%w: key %s was published %s and may be promoted from %s (or force the rotation)",
				ErrNextKeyTooNew, next.ID, next.CreatedAt.Format(time.RFC3339), ready.Format(time.RFC3339))
		}
		if active, ok := find(all, keys.StateActive); ok {
			res.Retired = s.retire(active, now)
			if err := updateKey(ctx, tx, res.Retired); err != nil {
				return "", "", err
			}
		}
		next.State, next.NotBefore = keys.StateActive, now
		if err := updateKey(ctx, tx, next); err != nil {
			return "", "", err
		}
		fresh.CreatedAt = now
		if err := insertKey(ctx, tx, fresh); err != nil {
			return "", "", err
		}
		res.Active, res.Next = next, fresh
		return ChangeRotated, next.ID, nil
	})
	return res, err
}

// Import takes an existing RSA private key into the keyset: as the active
// key at once when activate is set (the active key retires), else as the
// next key (replacing, revoked, a next key that never signed).
func (s *Service) Import(ctx context.Context, privatePEM []byte, activate bool) (Key, error) {
	priv, err := keys.ParsePrivateKeyPEM(privatePEM)
	if err != nil {
		return Key{}, validate.Field("private_key_pem", "%s", err.Error())
	}
	rec, err := s.importRecord(ctx, priv)
	if err != nil {
		return Key{}, err
	}
	err = s.change(ctx, func(tx pgx.Tx, all []Key, now time.Time) (string, string, error) {
		for _, k := range all {
			if k.ID == rec.ID {
				return "", "", fmt.Errorf("%w: %s (%s)", ErrKeyExists, k.ID, k.State)
			}
		}
		rec.CreatedAt = now
		if activate {
			if active, ok := find(all, keys.StateActive); ok {
				if err := updateKey(ctx, tx, s.retire(active, now)); err != nil {
					return "", "", err
				}
			}
			// An imported key may have signed elsewhere before: open start.
			rec.State = keys.StateActive
		} else if next, ok := find(all, keys.StateNext); ok {
			next.State, next.RevokedAt, next.RevokedReason = keys.StateRevoked, now, "replaced by imported key "+rec.ID
			if err := updateKey(ctx, tx, next); err != nil {
				return "", "", err
			}
		}
		return ChangeImported, rec.ID, insertKey(ctx, tx, rec)
	})
	return rec, err
}

// Revoke revokes kid: nothing it signed verifies any more. A revoked active
// key is replaced at once by the next key, whatever the publish lead, since
// signing on with a compromised key is worse than verifiers refreshing; a
// new next key is published whenever the next key was used up.
func (s *Service) Revoke(ctx context.Context, kid, reason string) (revoked, promoted Key, err error) {
	var errs []error
	if kid == "" {
		errs = append(errs, validate.Field("kid", "required"))
	}
	if reason == "" {
		errs = append(errs, validate.Field("reason", "required: say why the key is revoked"))
	}
	if err := errors.Join(errs...); err != nil {
		return revoked, promoted, err
	}
	fresh, err := s.generate(ctx)
	if err != nil {
		return revoked, promoted, err
	}
	err = s.change(ctx, func(tx pgx.Tx, all []Key, now time.Time) (string, string, error) {
		var target Key
		for _, k := range all {
			if k.ID == kid {
				target = k
			}
		}
		switch target.State {
		case "":
			return "", "", fmt.Errorf("%w: %s", ErrKeyNotFound, kid)
		case keys.StateRevoked:
			return "", "", fmt.Errorf("%w: %s since %s", ErrKeyRevoked, kid, target.RevokedAt.Format(time.RFC3339))
		}
		wasState := target.State
		target.State, target.RevokedAt, target.RevokedReason = keys.StateRevoked, now, reason
		if err := updateKey(ctx, tx, target); err != nil {
			return "", "", err
		}
		revoked = target
		needNext := wasState == keys.StateNext
		if wasState == keys.StateActive {
			next, ok := find(all, keys.StateNext)
			if !ok {
				return "", "", ErrNoNextKey
			}
			next.State, next.NotBefore = keys.StateActive, now
			if err := updateKey(ctx, tx, next); err != nil {
				return "", "", err
			}
			promoted, needNext = next, true
		}
		if needNext {
			fresh.CreatedAt = now
			if err := insertKey(ctx, tx, fresh); err != nil {
				return "", "", err
			}
		}
		return ChangeRevoked, kid, nil
	})
	return revoked, promoted, err
}

// change runs one change of the keyset: under the keyset lock, fn changes
// the keys and names the change ("" for none), which is then numbered and
// recorded with its event and the hooks, all in one transaction. The ring is
// reloaded after the commit, so this replica signs with the result at once.
func (s *Service) change(ctx context.Context, fn func(tx pgx.Tx, all []Key, now time.Time) (kind, kid string, err error)) error {
	var changed bool
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		changed = false
		if err := lockKeyset(ctx, tx, s.cfg.Purpose); err != nil {
			return err
		}
		all, err := listKeys(ctx, tx)
		if err != nil {
			return err
		}
		now := s.clock()
		kind, kid, err := fn(tx, all, now)
		if err != nil || kind == "" {
			return err
		}
		after, err := listKeys(ctx, tx)
		if err != nil {
			return err
		}
		version, err := recordChange(ctx, tx, s.cfg.Purpose, kind, kid, now, after)
		if err != nil {
			return err
		}
		c := Change{Kind: kind, KID: kid, Version: version, At: now, Keys: after}
		for _, h := range s.hooks {
			if err := h(ctx, tx, c); err != nil {
				return fmt.Errorf("keyset hook: %w", err)
			}
		}
		changed = true
		return nil
	})
	if err != nil {
		return err
	}
	if changed {
		if err := s.Reload(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) retire(k Key, now time.Time) Key {
	k.State, k.RetiredAt, k.NotAfter = keys.StateRetired, now, now.Add(s.cfg.VerifyAfterRetire)
	return k
}

// generate makes a next key, outside any transaction: RSA generation takes
// long enough that no lock should wait on it.
func (s *Service) generate(ctx context.Context) (Key, error) {
	ref, pub, err := s.backend.Generate(ctx)
	if err != nil {
		return Key{}, err
	}
	return s.nextKey(pub, ref), nil
}

func (s *Service) importRecord(ctx context.Context, priv *rsa.PrivateKey) (Key, error) {
	if _, err := keys.NewKey(priv); err != nil {
		return Key{}, validate.Field("private_key_pem", "%s", err.Error())
	}
	ref, err := s.backend.Import(ctx, priv)
	if err != nil {
		return Key{}, err
	}
	return s.nextKey(&priv.PublicKey, ref), nil
}

// nextKey is the record of a key just put in the backend (under ref): the
// next key, not yet published.
func (s *Service) nextKey(pub *rsa.PublicKey, ref []byte) Key {
	return Key{Record: keys.Record{ID: keys.KeyID(pub), Algorithm: keys.AlgRS256, State: keys.StateNext,
		Public: pub, Backend: s.backend.Name(), Ref: ref}}
}

func find(all []Key, st keys.State) (Key, bool) {
	for _, k := range all {
		if k.State == st {
			return k, true
		}
	}
	return Key{}, false
}

// Watch keeps the ring current with changes made by other replicas: it
// reloads when its keyset.changed passes on NATS (a plain subscription: any
// replica's relay publishes it) and every interval in case a message was
// missed. A failed reload keeps the ring as it was and is retried.
func (s *Service) Watch(nc *nats.Conn, interval time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		poke := make(chan struct{}, 1)
		if nc != nil {
			sub, err := nc.Subscribe(events.SubjectKeysetChanged, func(m *nats.Msg) {
				// Other services' keysets change on the same subject.
				var ev eventsv1.KeysetChanged
				if proto.Unmarshal(m.Data, &ev) == nil && ev.GetPurpose() != s.cfg.Purpose {
					return
				}
				select {
				case poke <- struct{}{}:
				default:
				}
			})
			if err != nil {
				return fmt.Errorf("subscribe to %s: %w", events.SubjectKeysetChanged, err)
			}
			defer func() { _ = sub.Unsubscribe() }()
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-poke:
			case <-t.C:
			}
			if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "keyset reload failed; signing with the keyset loaded before", "error", err)
			}
		}
	}
}
