package provider

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
)

// postgresModel is the `postgres` block every resource that talks to a
// PostgreSQL server shares: a DSN, or its parts.
type postgresModel struct {
	DSN      types.String `tfsdk:"dsn"`
	Host     types.String `tfsdk:"host"`
	Port     types.Int64  `tfsdk:"port"`
	User     types.String `tfsdk:"user"`
	Password types.String `tfsdk:"password"`
	DBName   types.String `tfsdk:"dbname"`
	SSLMode  types.String `tfsdk:"sslmode"`
}

func postgresBlock(purpose string) schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: "How to reach the PostgreSQL server " + purpose + ": either `dsn`, or `host`/`port`/`user`/`password`/`dbname`/`sslmode`. The role needs superuser (or `ALTER SYSTEM` and `pg_monitor` grants).",
		Attributes: map[string]schema.Attribute{
			"dsn": schema.StringAttribute{
				MarkdownDescription: "Connection string, URL (`postgres://user:pass@host:5432/db?sslmode=require`) or key/value form. Excludes the other attributes.",
				Optional:            true,
				Sensitive:           true,
			},
			"host":     schema.StringAttribute{MarkdownDescription: "Server host name or address.", Optional: true},
			"port":     schema.Int64Attribute{MarkdownDescription: "Server port (default 5432).", Optional: true, Validators: []validator.Int64{int64validator.Between(1, 65535)}},
			"user":     schema.StringAttribute{MarkdownDescription: "Role to log in as.", Optional: true},
			"password": schema.StringAttribute{MarkdownDescription: "Password of the role.", Optional: true, Sensitive: true},
			"dbname":   schema.StringAttribute{MarkdownDescription: "Database to connect to (default `postgres`).", Optional: true},
			"sslmode": schema.StringAttribute{
				MarkdownDescription: "libpq `sslmode` (default `prefer`).",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.OneOf("disable", "allow", "prefer", "require", "verify-ca", "verify-full")},
			},
		},
		Validators: nil,
	}
}

// validate reports configuration mistakes at plan, naming the attribute.
func (m *postgresModel) validate(p path.Path, diags *diag.Diagnostics) {
	if m == nil {
		diags.AddAttributeError(p, "Missing PostgreSQL Connection", "A `postgres` block with `dsn` or `host` is required.")
		return
	}
	if !m.DSN.IsNull() && !m.DSN.IsUnknown() {
		if !m.Host.IsNull() || !m.User.IsNull() || !m.Password.IsNull() || !m.Port.IsNull() || !m.DBName.IsNull() {
			diags.AddAttributeError(p.AtName("dsn"), "Conflicting PostgreSQL Connection",
				"Set either postgres.dsn or the host/port/user/password/dbname attributes, not both.")
		}
		if err := pg.ParseDSN(m.DSN.ValueString()); err != nil {
			// NOTE: the parse error may echo the DSN; it is sensitive, so only its class is shown.
			diags.AddAttributeError(p.AtName("dsn"), "Malformed PostgreSQL DSN",
				"postgres.dsn is not a valid connection string. Use a URL like postgres://user:password@host:5432/postgres?sslmode=require "+
					"or key/value pairs like \"host=db port=5432 user=postgres dbname=postgres\".")
		}
		return
	}
	if m.DSN.IsNull() && m.Host.IsNull() {
		diags.AddAttributeError(p.AtName("host"), "Missing PostgreSQL Connection", "Set postgres.dsn or postgres.host.")
	}
}

// anyUnknown is true while a connection value is known only at apply.
func (m *postgresModel) anyUnknown() bool {
	return m.DSN.IsUnknown() || m.Host.IsUnknown() || m.Port.IsUnknown() || m.User.IsUnknown() ||
		m.Password.IsUnknown() || m.DBName.IsUnknown() || m.SSLMode.IsUnknown()
}

// dsn renders the connection string; the DSN is never logged.
func (m *postgresModel) dsn() string {
	if !m.DSN.IsNull() {
		return m.DSN.ValueString()
	}
	u := url.URL{Scheme: "postgres", Host: m.Host.ValueString()}
	if !m.Port.IsNull() {
		u.Host += ":" + strconv.FormatInt(m.Port.ValueInt64(), 10)
	}
	if !m.User.IsNull() {
		if !m.Password.IsNull() {
			u.User = url.UserPassword(m.User.ValueString(), m.Password.ValueString())
		} else {
			u.User = url.User(m.User.ValueString())
		}
	}
	db := "postgres"
	if !m.DBName.IsNull() {
		db = m.DBName.ValueString()
	}
	u.Path = "/" + db
	q := url.Values{}
	if !m.SSLMode.IsNull() {
		q.Set("sslmode", m.SSLMode.ValueString())
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// describe names the server for messages, without credentials.
func (m *postgresModel) describe() string {
	if !m.Host.IsNull() {
		port := int64(5432)
		if !m.Port.IsNull() {
			port = m.Port.ValueInt64()
		}
		return fmt.Sprintf("%s:%d", m.Host.ValueString(), port)
	}
	if u, err := url.Parse(m.DSN.ValueString()); err == nil && u.Host != "" {
		return u.Host
	}
	return "the configured server"
}
