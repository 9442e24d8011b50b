# The SConstruct `dynapps` uses for a project that has none (cli.py): build the project in the
# folder scons runs in. A project's own SConstruct holds the same lines.
import os

import dynapps

# A no-op `scons apps` stops here when nothing changed since the last complete one (docs/performance.md).
if not dynapps.up_to_date():
    env = Environment(tools=["dynapps"], toolpath=[dynapps.TOOLPATH], ENV={"PATH": os.environ["PATH"]})
    env.DynappsApps()
