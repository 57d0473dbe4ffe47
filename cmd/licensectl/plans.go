package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// planFile is a plan as an admin edits it: `plans get -export` writes one,
// `plans create` and `plans update` read one. definition holds the limits,
// period rules and support entitlement (see the README's "License
// lifecycle").
type planFile struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Free       bool            `json:"free"`
	Modules    []string        `json:"modules"`
	Definition json.RawMessage `json:"definition"`
}

// readPlanFile reads a plan file strictly: a misspelt member is an error,
// not a silently missing rule.
func readPlanFile(e *env, path string) (planFile, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = readAll(e)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return planFile{}, fmt.Errorf("read plan file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var p planFile
	if err := dec.Decode(&p); err != nil {
		return planFile{}, fmt.Errorf("plan file %s: %w", path, err)
	}
	if len(p.Definition) == 0 {
		return planFile{}, fmt.Errorf("plan file %s: no definition", path)
	}
	return p, nil
}

func planRow(p *signerv1.Plan) []string {
	var def struct {
		SupportPlan string `json:"supportPlan"`
		Coverage    string `json:"coverage"`
	}
	_ = json.Unmarshal([]byte(p.GetDefinitionJson()), &def)
	return []string{p.GetId(), p.GetName(), strconv.Itoa(int(p.GetVersion())), strconv.FormatBool(p.GetFree()), strconv.FormatBool(p.GetIsDefault()),
		strconv.Itoa(len(p.GetModules())), orDash(def.SupportPlan), orDash(def.Coverage), ts(p.GetUpdatedAt())}
}

var planHeader = []string{"ID", "NAME", "VERSION", "FREE", "DEFAULT", "MODULES", "SUPPORT", "COVERAGE", "PUBLISHED"}

func plansGet(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	version := fs.Int("version", 0, "this version instead of the current one")
	export := fs.Bool("export", false, "print the plan as a plan file, to edit and pass to plans update")
	rest, err := parseMixed(e, fs, args)
	if err != nil {
		return err
	}
	id, err := oneArg(rest, "PLAN_ID")
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Signer.GetPlan(ctx, &signerv1.GetPlanRequest{Id: id, Version: int32(*version)})
	if err != nil {
		return err
	}
	p := resp.GetPlan()
	if *export {
		f := planFile{ID: p.GetId(), Name: p.GetName(), Free: p.GetFree(), Modules: p.GetModules(), Definition: json.RawMessage(p.GetDefinitionJson())}
		if f.Modules == nil {
			f.Modules = []string{}
		}
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, string(b))
		return err
	}
	if e.output == "table" {
		if err := e.print(resp, planHeader, [][]string{planRow(p)}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nmodules:    %s\ndefinition: %s\n", orDash(strings.Join(p.GetModules(), ", ")), p.GetDefinitionJson())
		return nil
	}
	return e.print(resp, nil, nil)
}

func plansCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	file := fs.String("f", "", "plan file (JSON: id, name, free, modules, definition; - for standard input) (required)")
	var ch changeFlags
	ch.flags(fs)
	rest, err := parseMixed(e, fs, args)
	if err != nil {
		return err
	}
	if *file == "" || len(rest) != 0 {
		return usageError{"expected -f FILE and no arguments"}
	}
	p, err := readPlanFile(e, *file)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Signer.CreatePlan(ctx, &signerv1.CreatePlanRequest{
		IdempotencyKey: ch.idempotencyKey(), Id: p.ID, Name: p.Name, Free: p.Free, Modules: p.Modules, DefinitionJson: string(p.Definition),
	})
	if err != nil {
		return err
	}
	return e.print(resp, planHeader, [][]string{planRow(resp.GetPlan())})
}

func plansUpdate(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	file := fs.String("f", "", "plan file (name, modules, definition; id and free must match the plan's) (required)")
	expected := fs.Int("expected-version", 0, "refuse unless the plan is at this version now (guards against concurrent edits)")
	var ch changeFlags
	ch.flags(fs)
	rest, err := parseMixed(e, fs, args)
	if err != nil {
		return err
	}
	id, err := oneArg(rest, "PLAN_ID")
	if err != nil {
		return err
	}
	if *file == "" {
		return usageError{"-f FILE is required"}
	}
	p, err := readPlanFile(e, *file)
	if err != nil {
		return err
	}
	if p.ID != "" && p.ID != id {
		return usageError{fmt.Sprintf("the plan file is for %q, not %q", p.ID, id)}
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	cur, err := c.Signer.GetPlan(ctx, &signerv1.GetPlanRequest{Id: id})
	if err != nil {
		return err
	}
	if p.Free != cur.GetPlan().GetFree() {
		return usageError{fmt.Sprintf("plan %q is free=%v for life; the file says free=%v", id, cur.GetPlan().GetFree(), p.Free)}
	}
	resp, err := c.Signer.PublishPlanVersion(ctx, &signerv1.PublishPlanVersionRequest{
		IdempotencyKey: ch.idempotencyKey(), Id: id, Name: p.Name, Modules: p.Modules, DefinitionJson: string(p.Definition), ExpectedVersion: int32(*expected),
	})
	if err != nil {
		return err
	}
	return e.print(resp, planHeader, [][]string{planRow(resp.GetPlan())})
}
