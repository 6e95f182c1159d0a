"""A module as a learner receives it: every function and method stubbed out.

The vacuity check installs module N in this state and runs suite N: a test that does not fail
does not test module N. The stub is made from the module's own source with ``ast``:

- every function and method (at any depth of classes) keeps its name, decorators, signature
  and docstring, and its body becomes ``raise NotImplementedError``; a lambda raises too;
- classes, imports, constants and tables stay, so ``import tinytorch`` still succeeds and
  every name a test looks up exists;
- bare calls at module level (``enable_autograd()``) and assignments onto other modules'
  objects are dropped: they would run stubbed code at import, and a learner's module does not
  switch itself on before it is written.
"""

from __future__ import annotations

import ast

RAISER = "_vacuity_stub"
RAISER_SOURCE = f"""
def {RAISER}(what):
    raise NotImplementedError(f"{{what}} is a stub (vacuity check): write it")
"""


class _Stubber(ast.NodeTransformer):
    def __init__(self) -> None:
        self.scope: list[str] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        qualname = ".".join([*self.scope, node.name])
        docstring = node.body[:1] if ast.get_docstring(node, clean=False) is not None else []
        message = ast.Constant(f"{qualname}() is a stub (vacuity check): write it")
        raise_it = ast.Raise(
            exc=ast.Call(ast.Name("NotImplementedError", ast.Load()), [message], []), cause=None
        )
        node.body = [*docstring, raise_it]
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        where = ".".join([*self.scope, "<lambda>"])
        node.body = ast.Call(ast.Name(RAISER, ast.Load()), [ast.Constant(where)], [])
        return node


def _runs_at_import(statement: ast.stmt, index: int) -> bool:
    """A module-level statement that would run module code at import (dropped)."""
    if isinstance(statement, ast.Expr):
        return not (index == 0 and isinstance(statement.value, ast.Constant))  # the docstring
    if isinstance(statement, ast.Assign | ast.AugAssign | ast.AnnAssign):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return any(isinstance(target, ast.Attribute | ast.Subscript) for target in targets)
    return False


def _is_future(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.ImportFrom) and statement.module == "__future__"


def stub_source(source: str, filename: str = "<module>") -> str:
    """The stubbed form of a module's source (see the module docstring)."""
    tree = ast.parse(source, filename=filename)
    body = [s for i, s in enumerate(tree.body) if not _runs_at_import(s, i)]
    tree.body = body
    tree = _Stubber().visit(tree)
    # After the docstring and `from __future__` imports, which must come first.
    position = 0
    while position < len(tree.body) and (
        (position == 0 and isinstance(tree.body[0], ast.Expr))
        or (
            isinstance(tree.body[position], ast.ImportFrom)
            and tree.body[position].module == "__future__"
        )
    ):
        position += 1
    tree.body[position:position] = ast.parse(RAISER_SOURCE).body
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"
