# The FinTech ID images, from one Dockerfile:
#
#   docker build -t fintech-idp .                                  # the IdP (target idp, the default)
#   docker build --target dashboard -t fintech-dashboard .         # the example dashboard (RP)
#
# The idp target is the last stage, so builders that take no target (Railway) get the IdP. BuildKit
# builds only the stages a target needs: building idp never compiles ./example-client.
#
# Both images are static Go binaries (CGO_ENABLED=0: the embedded SQLite is pure Go) on distroless
# static: no shell, no package manager, running as the nonroot user (65532).
#
# No RUN --mount=type=cache here: Railway only accepts cache mounts whose id carries the service's
# id, which would tie this file to one deployment. The go mod download layer is cached instead.

# ---------------------------------------------------------------- build
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Dependencies first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .

FROM build AS build-idp
RUN go build -trimpath -ldflags="-s -w" -o /out/idp ./cmd/idp
# The data directory for the embedded SQLite database and the development secret key. Distroless
# has no shell to mkdir with, so it is made here and copied with its owner; a volume mounted on
# /data starts with this owner.
RUN mkdir -p /out/data && chmod 0700 /out/data

FROM build AS build-dashboard
RUN go build -trimpath -ldflags="-s -w" -o /out/dashboard ./example-client

# ---------------------------------------------------------------- dashboard
# The example FinTech dashboard, a relying party of the IdP. It reads ISSUER, CLIENT_ID,
# CLIENT_SECRET, REDIRECT_URL and PORT.
FROM gcr.io/distroless/static-debian12:nonroot AS dashboard
COPY --from=build-dashboard /out/dashboard /dashboard
USER nonroot:nonroot
ENV PORT=5000
EXPOSE 5000
ENTRYPOINT ["/dashboard"]

# ---------------------------------------------------------------- idp (default)
FROM gcr.io/distroless/static-debian12:nonroot AS idp
COPY --from=build-idp /out/idp /idp
COPY --from=build-idp --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
# The image runs as production: an https ISSUER, SECRET_KEY and a mail sender are required, and
# development conveniences (/dev/outbox, the development client) are off. The compose demo sets
# IDP_ENV=development explicitly.
# IDP_DATA_DIR holds the embedded SQLite database (when DATABASE_URL is empty) and, in development
# only, the generated secret key. With PostgreSQL nothing needs to persist here.
ENV IDP_ENV=production PORT=8080 IDP_DATA_DIR=/data
VOLUME /data
# 8080: OpenID Provider and hosted pages (PORT).
# 9090: Prometheus /metrics (IDP_METRICS_ADDR), for a scraper inside the private network only:
#       never publish or route it to the internet.
EXPOSE 8080 9090
# `idp healthcheck` GETs http://127.0.0.1:$PORT/readyz (database reachable, migrations current,
# signing key loaded) and exits non-zero otherwise: no curl needed in a distroless image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/idp", "healthcheck"]
ENTRYPOINT ["/idp"]
CMD ["serve"]
