"""Deployment: what a component is on disk and how its lifecycle runs.

`recipes` parses recipes and fills their variables (`semver` for versions and
requirements, `configtree` for configuration trees and their merges), `store`
keeps ROOT/packages, `lifecycle` holds the nucleus's lifecycle rules and
`runner` runs one component's lifecycle processes in ROOT/work, writing
ROOT/logs through `logs`.

Imports nothing of greengrass_local outside `deployment`: no wire, no
service, no nucleus. The deployment service (services/deployments.py) drives it.
"""
