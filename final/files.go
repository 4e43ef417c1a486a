// Package golog holds the files the golog server ships with, built into the binary so
// that `golog` works from any directory and needs nothing beside itself:
//
//	acl/model.conf, acl/policy.csv   the default access control list (casbin)
//	certs/*.json                     the CFSSL configurations certificates are made from
//
// The same files are what `make gencert` gives the cfssl command, and what an operator
// copies to change them; the golog command takes other files by flag.
package golog

import "embed"

// ACLModel and ACLPolicy are the contents of acl/model.conf and acl/policy.csv: the
// casbin model and policy a server enforces unless told to use other files.
var (
	//go:embed acl/model.conf
	ACLModel string
	//go:embed acl/policy.csv
	ACLPolicy string
)

// CertConfigs holds certs/ca-csr.json, certs/ca-config.json, certs/server-csr.json and
// certs/client-csr.json: the CFSSL certificate requests and signing profiles of the
// cluster's CA, servers and clients (see package internal/certs).
//
//go:embed certs/*.json
var CertConfigs embed.FS
