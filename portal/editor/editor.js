// The ADQL editor: CodeMirror 6 with SQL highlighting, completion of ADQL keywords, functions,
// tables and columns, and an error marker at a line and column. Bundled by `npm run build`.
import { EditorView, keymap, lineNumbers, highlightActiveLine } from "@codemirror/view";
import { EditorState } from "@codemirror/state";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching } from "@codemirror/language";
import { autocompletion, completionKeymap, closeBrackets } from "@codemirror/autocomplete";
import { sql, StandardSQL, keywordCompletionSource, schemaCompletionSource } from "@codemirror/lang-sql";
import { setDiagnostics, lintGutter } from "@codemirror/lint";

// ADQL 2.1 geometry and math functions and keywords (ADQL 2.1 §2.4, §2.3).
const FUNCTIONS = ["AREA", "BOX", "CENTROID", "CIRCLE", "CONTAINS", "COORD1", "COORD2", "COORDSYS", "DISTANCE",
  "INTERSECTS", "POINT", "POLYGON", "REGION", "ABS", "ACOS", "ASIN", "ATAN", "ATAN2", "CEILING", "COS", "COT",
  "DEGREES", "EXP", "FLOOR", "LOG", "LOG10", "MOD", "PI", "POWER", "RADIANS", "RAND", "ROUND", "SIN", "SQRT",
  "TAN", "TRUNCATE", "LOWER", "UPPER", "ILIKE", "IN_UNIT", "COALESCE", "CAST", "COUNT", "AVG", "MIN", "MAX", "SUM"];
const ADQL = StandardSQL;

export function createEditor(textarea, tables) {
  const schema = {};
  for (const [name, columns] of Object.entries(tables)) schema[name] = columns;
  const language = sql({ dialect: ADQL, schema, upperCaseKeywords: true });
  const functions = (context) => {
    const word = context.matchBefore(/\w+/);
    if (!word || (word.from === word.to && !context.explicit)) return null;
    return { from: word.from, options: FUNCTIONS.map((f) => ({ label: f, type: "function", apply: f })) };
  };
  const view = new EditorView({
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        lineNumbers(), history(), highlightActiveLine(), bracketMatching(), closeBrackets(), lintGutter(),
        syntaxHighlighting(defaultHighlightStyle), language,
        autocompletion({ override: [keywordCompletionSource(ADQL, true), schemaCompletionSource({ dialect: ADQL, schema }), functions] }),
        keymap.of([...completionKeymap, ...defaultKeymap, ...historyKeymap]),
        EditorView.contentAttributes.of({ "aria-label": "ADQL query" }),
        EditorView.updateListener.of((update) => { if (update.docChanged) textarea.value = update.state.doc.toString(); }),
      ],
    }),
  });
  textarea.hidden = true;
  textarea.after(view.dom);
  return {
    view,
    getText: () => view.state.doc.toString(),
    setText: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    clearError: () => view.dispatch(setDiagnostics(view.state, [])),
    markError(line, column, message) {
      const doc = view.state.doc;
      const at = doc.line(Math.min(Math.max(line, 1), doc.lines));
      const from = Math.min(at.from + Math.max(column - 1, 0), at.to);
      const word = /^\w+/.exec(doc.sliceString(from, at.to));
      const to = Math.min(from + (word ? word[0].length : 1), doc.length);
      view.dispatch(setDiagnostics(view.state, [{ from, to, severity: "error", message }]),
        { selection: { anchor: from }, scrollIntoView: true });
      view.focus();
    },
  };
}
