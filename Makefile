# The front door: `make help` lists the targets; npm scripts do the work.
.DEFAULT_GOAL := help
.PHONY: help install dev start build test test-unit lint format typecheck check migrate migrate-down image up down \
	bench soak

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-13s\033[0m %s\n", $$1, $$2}'

install: ## Install dependencies from the lockfile (npm ci)
	npm ci

dev: ## Run with reload (embedded PostgreSQL when DATABASE_URL is unset)
	npm run dev

start: ## Build and run the production server on :8080
	npm start

build: ## Compile TypeScript to dist/
	npm run build

test: ## Every test (unit, repository checks, and those against real PostgreSQL), with coverage
	npm test

test-unit: ## The tests that need no database
	npm run test:unit

lint: ## Prettier, ESLint (layer rules included, zero warnings), container files, the OpenAPI document
	npm run lint

format: ## Format the tree with Prettier
	npm run format

typecheck: ## tsc --noEmit over src and test
	npm run typecheck

check: lint typecheck test ## What CI runs after npm ci

migrate: ## Apply pending migrations (DATABASE_URL, or the development database)
	npm run migrate -- up

migrate-down: ## Roll back the last migration
	npm run migrate -- down 1

image: ## Build the container image
	docker build -t product-user-service:local .

up: ## Start PostgreSQL and the service with docker compose
	docker compose up --build -d

down: ## Stop the compose stack
	docker compose down

bench: ## Benchmark the production server against the pgbench ceiling (needs wrk or autocannon)
	npm run bench

soak: ## Mixed load for 10 minutes; reports heap and RSS growth
	npm run bench -- --soak 600
