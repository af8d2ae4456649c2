# One image holds both binaries; compose.yaml picks the command.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/ ./cmd/portal ./cmd/worker

FROM debian:bookworm-slim
# pg_dump is needed by capture jobs (safety snapshots, scheduled captures).
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client-15 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/portal /out/worker /usr/local/bin/
USER nobody
ENTRYPOINT []
