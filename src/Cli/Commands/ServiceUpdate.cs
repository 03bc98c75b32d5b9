using System.Text;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Commands;

/// <summary>
/// The changes <c>service update</c> makes to a service's spec, applied as docker applies them to the spec it read
/// (<c>cli/command/service/update.go</c>): removals before additions, an added key replacing the old value.
/// </summary>
internal sealed record ServiceUpdate(
    ulong? Replicas,
    string? Image,
    string? Args,
    string[] EnvAdd,
    string[] EnvRemove,
    string[] LabelAdd,
    string[] LabelRemove,
    string[] ConstraintAdd,
    string[] ConstraintRemove,
    bool Force)
{
    /// <summary>Edits <paramref name="spec"/> in place.</summary>
    /// <exception cref="CommandException">A change the service's mode does not allow, or a malformed value.</exception>
    public static void Apply(ServiceSpec spec, ServiceUpdate update, Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(update);
        var template = spec.TaskTemplate;
        var container = template.ContainerSpec ??= new ContainerSpec();

        if (update.Replicas is { } replicas)
        {
            if (spec.Mode.Replicated is { } replicated)
            {
                replicated.Replicas = replicas;
            }
            else if (spec.Mode.ReplicatedJob is { } job)
            {
                job.TotalCompletions = replicas;
            }
            else
            {
                throw new CommandException("replicas can only be used with replicated or replicated-job mode");
            }
        }

        if (update.Image is { } image)
        {
            container.Image = image;
        }

        if (update.Args is { } args)
        {
            container.Args = SplitWords(args);
        }

        if (update.EnvAdd.Length > 0 || update.EnvRemove.Length > 0)
        {
            container.Env = UpdateEnv(container.Env ?? [], update.EnvAdd, update.EnvRemove, variable);
        }

        if (update.LabelAdd.Length > 0 || update.LabelRemove.Length > 0)
        {
            var labels = spec.Labels ?? [];
            foreach (var key in update.LabelRemove)
            {
                labels.Remove(key);
            }

            foreach (var text in update.LabelAdd)
            {
                ServiceFlagValues.AddKeyValue(labels, text);
            }

            spec.Labels = labels;
        }

        if (update.ConstraintAdd.Length > 0 || update.ConstraintRemove.Length > 0)
        {
            var placement = template.Placement ??= new Placement();
            var remove = update.ConstraintRemove.Select(c => c.Trim()).ToHashSet(StringComparer.Ordinal);
            var constraints = (placement.Constraints ?? []).Where(c => !remove.Contains(c.Trim())).ToList();
            constraints.AddRange(update.ConstraintAdd.Where(c => !constraints.Contains(c, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal));
            placement.Constraints = constraints.Count > 0 ? constraints : null;
        }

        if (update.Force)
        {
            // A new counter value makes the spec differ, so every task is replaced.
            template.ForceUpdate++;
        }
    }

    /// <summary>
    /// docker's <c>updateEnvironment</c>: <c>--env-rm KEY</c> drops every entry of that key, <c>--env-add</c> sets
    /// entries by key (replacing, keeping the first position), a bare key taking its value from this shell.
    /// </summary>
    private static List<string> UpdateEnv(List<string> env, string[] add, string[] remove, Func<string, string?> variable)
    {
        static string KeyOf(string entry) => entry.IndexOf('=', StringComparison.Ordinal) is var equals and >= 0 ? entry[..equals] : entry;

        var removed = remove.ToHashSet(StringComparer.Ordinal);
        var result = env.Where(e => !removed.Contains(KeyOf(e))).ToList();
        foreach (var text in add)
        {
            if (!ServiceFlagValues.TryParseEnv(text, variable, out var entry, out var error))
            {
                throw new CommandException(error!);
            }

            var key = KeyOf(entry);
            var index = result.FindIndex(e => KeyOf(e) == key);
            if (index >= 0)
            {
                result[index] = entry;
            }
            else
            {
                result.Add(entry);
            }
        }

        return result;
    }

    /// <summary>Splits a command line as a POSIX shell does words: blanks separate, quotes group, a backslash escapes.</summary>
    /// <exception cref="CommandException">An unclosed quote.</exception>
    public static List<string> SplitWords(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        char? quote = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote is { } open)
            {
                if (c == open)
                {
                    quote = null;
                }
                else if (c == '\\' && open == '"' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$' or '`')
                {
                    word.Append(text[++i]);
                }
                else
                {
                    word.Append(c);
                }

                continue;
            }

            if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }

                continue;
            }

            inWord = true;
            if (c is '"' or '\'')
            {
                quote = c;
            }
            else if (c == '\\' && i + 1 < text.Length)
            {
                word.Append(text[++i]);
            }
            else
            {
                word.Append(c);
            }
        }

        if (quote is not null)
        {
            throw new CommandException($"invalid --args \"{text}\": a quote is not closed");
        }

        if (inWord)
        {
            words.Add(word.ToString());
        }

        return words;
    }
}
