"""rlfb.tools: the built-in tools (``calculator``, ``python``).

They join `rlfb.environments.TOOLS` through the ``rlfb.tools`` entry-point group, as a plugin's
tools would; look them up with `rlfb.environments.get_tool`. The contract (`Tool`, `ToolResult`,
`run_tool`) is in `rlfb.environments.base`.
"""
