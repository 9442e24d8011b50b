# The SConstruct `dynapps` uses for a project that has none (cli.py): build the project in the
# folder scons runs in. A project's own SConstruct holds the same lines.
import os

import dynapps

env = Environment(tools=["default", "dynapps"], toolpath=[dynapps.TOOLPATH], ENV={"PATH": os.environ["PATH"]})
env.DynappsApps()
