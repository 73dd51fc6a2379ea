// Package domain holds the catalog's rules: what a valid product is, who may change it, and
// what a change means (which fields changed, when the terms version moves). It does no I/O and
// names no wire type: ports and adapters map products to and from the contracts' DTOs.
package domain

import (
	"slices"
	"strings"
	"time"

	"github.com/moa-run/moa/contracts"
)

// Actor is the verified caller of a command.
type Actor struct {
	UserID string
	Role   contracts.Role
}

// Product is the catalog's aggregate.
type Product struct {
	ID            string
	SellerID      string
	Title         string
	Description   string
	PriceAmount   int64
	Currency      string
	BillingPeriod contracts.BillingPeriod
	Terms         string
	TermsVersion  int
	Capacity      int
	SeatsTaken    int
	Tags          []string
	ImageURLs     []string
	Views         int64
	Version       int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Fields are the seller-editable fields of a product.
type Fields struct {
	Title         string
	Description   string
	PriceAmount   int64
	Currency      string
	BillingPeriod contracts.BillingPeriod
	Terms         string
	Capacity      int
	Tags          []string
	ImageURLs     []string
}

// Patch is a partial update: nil fields keep their value.
type Patch struct {
	Title           *string
	Description     *string
	PriceAmount     *int64
	Currency        *string
	BillingPeriod   *contracts.BillingPeriod
	Terms           *string
	Capacity        *int
	Tags            *[]string
	ImageURLs       *[]string
	ExpectedVersion int64
}

// Change describes what an applied patch did, so the adapter can emit the matching events.
type Change struct {
	Fields               []string // JSON names of the changed fields
	TermsChanged         bool
	PreviousTermsVersion int
}

// Empty reports whether the patch changed nothing.
func (c Change) Empty() bool { return len(c.Fields) == 0 }

// RequireSeller allows only sellers to write products.
func RequireSeller(a Actor) error {
	if a.UserID == "" {
		return contracts.ErrUnauthenticated.Msg("sign in as a seller to manage products")
	}
	if a.Role != contracts.RoleSeller {
		return contracts.ErrForbidden.Msg("only sellers manage products")
	}
	return nil
}

// NewProduct makes a product owned by actor, with normalised fields. Times are truncated to
// microseconds, the database's precision, so what is returned equals what is stored.
func NewProduct(id string, actor Actor, f Fields, now time.Time) (Product, error) {
	if err := RequireSeller(actor); err != nil {
		return Product{}, err
	}
	f = normalise(f)
	if err := validate(f); err != nil {
		return Product{}, err
	}
	if err := validateCurrency(f.Currency); err != nil {
		return Product{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	return Product{
		ID: id, SellerID: actor.UserID, Title: f.Title, Description: f.Description,
		PriceAmount: f.PriceAmount, Currency: f.Currency, BillingPeriod: f.BillingPeriod,
		Terms: f.Terms, TermsVersion: 1, Capacity: f.Capacity, Tags: f.Tags, ImageURLs: f.ImageURLs,
		Version: 1, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// CheckOwner allows only the seller who owns p to change it.
func (p *Product) CheckOwner(actor Actor) error {
	if err := RequireSeller(actor); err != nil {
		return err
	}
	if actor.UserID != p.SellerID {
		return contracts.ErrForbidden.Msg("product %s belongs to another seller", p.ID)
	}
	return nil
}

// Apply changes p by patch on behalf of actor. A patch that sets fields to their current values
// is not a change: the version stays and no event follows. A new terms text bumps the terms
// version. Capacity may not drop below the seats already taken.
func (p *Product) Apply(actor Actor, patch Patch, now time.Time) (Change, error) {
	if err := p.CheckOwner(actor); err != nil {
		return Change{}, err
	}
	if patch.ExpectedVersion != 0 && patch.ExpectedVersion != p.Version {
		return Change{}, contracts.ErrConflict.Msg("product %s is at version %d, not %d", p.ID, p.Version, patch.ExpectedVersion)
	}
	next := p.fields()
	patchField(&next.Title, patch.Title)
	patchField(&next.Description, patch.Description)
	patchField(&next.PriceAmount, patch.PriceAmount)
	patchField(&next.Currency, patch.Currency)
	patchField(&next.BillingPeriod, patch.BillingPeriod)
	patchField(&next.Terms, patch.Terms)
	patchField(&next.Capacity, patch.Capacity)
	patchField(&next.Tags, patch.Tags)
	patchField(&next.ImageURLs, patch.ImageURLs)
	next = normalise(next)
	if err := validate(next); err != nil {
		return Change{}, err
	}
	if next.Currency != p.Currency {
		if err := validateCurrency(next.Currency); err != nil {
			return Change{}, err
		}
	}
	if next.Capacity < p.SeatsTaken {
		return Change{}, contracts.ErrConflict.Msg("capacity %d is below the %d seats already taken", next.Capacity, p.SeatsTaken)
	}
	ch := diff(p.fields(), next)
	if ch.Empty() {
		return ch, nil
	}
	if ch.TermsChanged {
		ch.PreviousTermsVersion = p.TermsVersion
		p.TermsVersion++
	}
	p.setFields(next)
	p.Version++
	p.UpdatedAt = now.UTC().Truncate(time.Microsecond)
	return ch, nil
}

// CheckDelete allows the owner to delete a product nobody holds a seat of: deleting it under
// its subscribers would strand them.
func (p *Product) CheckDelete(actor Actor) error {
	if err := p.CheckOwner(actor); err != nil {
		return err
	}
	if p.SeatsTaken > 0 {
		return contracts.ErrConflict.Msg("product %s has %d seats taken; it cannot be deleted", p.ID, p.SeatsTaken)
	}
	return nil
}

func (p *Product) fields() Fields {
	return Fields{Title: p.Title, Description: p.Description, PriceAmount: p.PriceAmount, Currency: p.Currency,
		BillingPeriod: p.BillingPeriod, Terms: p.Terms, Capacity: p.Capacity, Tags: p.Tags, ImageURLs: p.ImageURLs}
}

func (p *Product) setFields(f Fields) {
	p.Title, p.Description, p.PriceAmount, p.Currency = f.Title, f.Description, f.PriceAmount, f.Currency
	p.BillingPeriod, p.Terms, p.Capacity, p.Tags, p.ImageURLs = f.BillingPeriod, f.Terms, f.Capacity, f.Tags, f.ImageURLs
}

func diff(a, b Fields) Change {
	var c Change
	add := func(changed bool, name string) {
		if changed {
			c.Fields = append(c.Fields, name)
		}
	}
	add(a.Title != b.Title, "title")
	add(a.Description != b.Description, "description")
	add(a.PriceAmount != b.PriceAmount, "price_amount")
	add(a.Currency != b.Currency, "currency")
	add(a.BillingPeriod != b.BillingPeriod, "billing_period")
	add(a.Terms != b.Terms, "terms")
	add(a.Capacity != b.Capacity, "capacity")
	add(!slices.Equal(a.Tags, b.Tags), "tags")
	add(!slices.Equal(a.ImageURLs, b.ImageURLs), "image_urls")
	c.TermsChanged = a.Terms != b.Terms
	return c
}

// normalise trims text and makes tags lower-case, unique and in their given order, so that
// "Video" and "video " are one tag and filters find them.
func normalise(f Fields) Fields {
	f.Title = strings.TrimSpace(f.Title)
	f.Description = strings.TrimSpace(f.Description)
	f.Terms = strings.TrimSpace(f.Terms)
	tags := make([]string, 0, len(f.Tags))
	for _, t := range f.Tags {
		t = NormaliseTag(t)
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	f.Tags = tags
	f.ImageURLs = append([]string{}, f.ImageURLs...)
	return f
}

// NormaliseTag is the stored form of a tag (and of a tag filter).
func NormaliseTag(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

// validate applies the contract's field rules; the domain checks them again because commands
// may come from elsewhere than a decoded request.
func validate(f Fields) error {
	for _, err := range []error{
		contracts.ValidateTitle(f.Title), contracts.ValidateDescription(f.Description),
		contracts.ValidatePrice(f.PriceAmount), contracts.ValidateCurrency("currency", f.Currency),
		contracts.ValidateBillingPeriod(f.BillingPeriod), contracts.ValidateTerms(f.Terms),
		contracts.ValidateCapacity(f.Capacity), contracts.ValidateTags(f.Tags), contracts.ValidateImageURLs(f.ImageURLs),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// patchField sets *dst to *v when the patch names the field (v != nil).
func patchField[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
