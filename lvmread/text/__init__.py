"""The text metadata: the lark grammar's generated parser and the transformer that
makes dicts of it."""
