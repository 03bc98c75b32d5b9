using Spectre.Console;
using Spectre.Console.Rendering;

namespace Shoal.Cli.Output;

/// <summary>Where the lines of a service's progress go: a redrawn block on a terminal, appended lines elsewhere.</summary>
internal abstract class ServiceProgressDisplay
{
    /// <summary>The display for <paramref name="environment"/>: live bars on a terminal, lines when output is redirected.</summary>
    public static ServiceProgressDisplay For(CliEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return environment.Interactive ? new Live(environment.Out) : new Lines(environment.Out);
    }

    /// <summary>Runs <paramref name="watch"/>, which hands its updates to the callback it is given, inside the display.</summary>
    public abstract Task<T> RunAsync<T>(Func<Action<IReadOnlyList<ProgressUpdate>>, Task<T>> watch);

    /// <summary>
    /// docker's non-terminal output (<c>ID: action</c>, one line each), with one difference: a line is written only
    /// when its text changes, not on every 200 ms poll, so a log of a long rollout stays readable.
    /// </summary>
    internal sealed class Lines(TextWriter output) : ServiceProgressDisplay
    {
        private readonly Dictionary<string, string> _last = new(StringComparer.Ordinal);

        /// <inheritdoc/>
        public override Task<T> RunAsync<T>(Func<Action<IReadOnlyList<ProgressUpdate>>, Task<T>> watch)
        {
            ArgumentNullException.ThrowIfNull(watch);
            return watch(Apply);
        }

        /// <summary>Writes the updates whose text differs from what their line last said.</summary>
        public void Apply(IReadOnlyList<ProgressUpdate> updates)
        {
            foreach (var update in updates)
            {
                var action = update.Action.TrimEnd();
                if (update.Id.Length == 0)
                {
                    output.Write(action + "\n");
                    continue;
                }

                // The blank placeholders that reserve a bar's place on a terminal say nothing here.
                if (action.Length == 0 || (_last.TryGetValue(update.Id, out var last) && last == action))
                {
                    continue;
                }

                _last[update.Id] = action;
                output.Write($"{update.Id}: {action}\n");
            }

            output.Flush();
        }
    }

    /// <summary>docker's terminal output: one line per ID, redrawn in place, with a bar where the update has one.</summary>
    internal sealed class Live(TextWriter output) : ServiceProgressDisplay
    {
        private const int BarWidth = 50;

        private readonly List<string> _order = [];
        private readonly Dictionary<string, ProgressUpdate> _lines = new(StringComparer.Ordinal);
        private readonly List<string> _messages = [];

        /// <inheritdoc/>
        public override async Task<T> RunAsync<T>(Func<Action<IReadOnlyList<ProgressUpdate>>, Task<T>> watch)
        {
            ArgumentNullException.ThrowIfNull(watch);
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = AnsiSupport.Detect,
                ColorSystem = ColorSystemSupport.Detect,
                Out = new AnsiConsoleOutput(output),
            });
            T result = default!;
            await console.Live(Render()).AutoClear(false).Overflow(VerticalOverflow.Ellipsis).StartAsync(async context =>
            {
                result = await watch(updates =>
                {
                    Apply(updates);
                    context.UpdateTarget(Render());
                    context.Refresh();
                });
            });
            return result;
        }

        private void Apply(IReadOnlyList<ProgressUpdate> updates)
        {
            foreach (var update in updates)
            {
                if (update.Id.Length == 0)
                {
                    _messages.Add(update.Action);
                    continue;
                }

                if (!_lines.ContainsKey(update.Id))
                {
                    _order.Add(update.Id);
                }

                _lines[update.Id] = update;
            }
        }

        private Rows Render()
        {
            // One line per ID, as docker draws them: "ID: action [bar]"; cut, not wrapped, on a narrow terminal.
            var rows = new List<IRenderable>();
            foreach (var id in _order)
            {
                var line = _lines[id];
                var text = line.Total is { } total ? $"{id}: {line.Action} {Bar(line.Current, total)}" : $"{id}: {line.Action}";
                rows.Add(new Text(text) { Overflow = Overflow.Ellipsis });
            }

            rows.AddRange(_messages.Select(m => new Text(m) { Overflow = Overflow.Ellipsis }));
            return new Rows(rows);
        }

        /// <summary>docker's bar: <c>[=====&gt;     ]</c>, fifty wide.</summary>
        private static string Bar(long current, long total)
        {
            var filled = total <= 0 ? 0 : (int)Math.Clamp(current * BarWidth / total, 0, BarWidth);
            return "[" + new string('=', filled) + ">" + new string(' ', BarWidth - filled) + "]";
        }
    }
}
