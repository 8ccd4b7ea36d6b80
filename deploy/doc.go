// Package deploy has no code of its own: its tests keep the deployment files at the repository
// root honest without a Docker engine (CI has none). They load docker-compose.yml with
// compose-go, parse the Dockerfile with BuildKit's parser and linter, decode railway.toml strictly,
// evaluate .dockerignore with Docker's pattern matcher, and check that .env.example names every
// variable internal/config reads, with defaults that are the real defaults.
package deploy
