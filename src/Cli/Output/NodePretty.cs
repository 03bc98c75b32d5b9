using System.Text;
using Shoal.DockerApi.Model;
using DockerNode = Shoal.DockerApi.Model.Node;

namespace Shoal.Cli.Output;

/// <summary>
/// <c>node inspect --pretty</c>: docker's human summary of a node, line for line and tab for tab (docker writes
/// this template without a tabwriter, so the tabs reach the terminal as they are).
/// </summary>
internal static class NodePretty
{
    /// <summary>Writes the summary of <paramref name="node"/>, followed by a newline as docker's formatter adds.</summary>
    public static void Write(TextWriter output, DockerNode node)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(node);
        var text = new StringBuilder();
        var description = node.Description ?? new NodeDescription();
        Line(text, "ID:\t\t\t" + node.ID);
        if (!string.IsNullOrEmpty(node.Spec.Name))
        {
            Line(text, "Name:\t\t\t" + node.Spec.Name);
        }

        if (node.Spec.Labels is { Count: > 0 } labels)
        {
            Line(text, "Labels:");
            Pairs(text, labels);
        }

        Line(text, "Hostname:              \t" + description.Hostname);
        Line(text, "Joined at:             \t" + DockerFormat.GoTime(node.CreatedAt));
        Line(text, "Status:");
        Line(text, " State:\t\t\t" + DockerFormat.Capitalize(node.Status.State));
        if (!string.IsNullOrEmpty(node.Status.Message))
        {
            Line(text, " Message:              \t" + DockerFormat.Capitalize(node.Status.Message));
        }

        Line(text, " Availability:         \t" + DockerFormat.Capitalize(node.Spec.Availability));
        if (!string.IsNullOrEmpty(node.Status.Addr))
        {
            Line(text, " Address:\t\t" + node.Status.Addr);
        }

        if (node.ManagerStatus is { } manager)
        {
            Line(text, "Manager Status:");
            Line(text, " Address:\t\t" + manager.Addr);
            Line(text, " Raft Status:\t\t" + DockerFormat.Capitalize(manager.Reachability));
            Line(text, manager.Leader ? " Leader:\t\tYes" : " Leader:\t\tNo");
        }

        Line(text, "Platform:");
        Line(text, " Operating System:\t" + description.Platform?.OS);
        Line(text, " Architecture:\t\t" + description.Platform?.Architecture);
        Line(text, "Resources:");
        var resources = description.Resources ?? new Resources();
        Line(text, " CPUs:\t\t\t" + (resources.NanoCPUs / 1_000_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Line(text, " Memory:\t\t" + (resources.MemoryBytes == 0 ? string.Empty : DockerFormat.BytesSize(resources.MemoryBytes)));
        if (description.Engine?.Plugins is { Count: > 0 } plugins)
        {
            Line(text, "Plugins:");
            foreach (var group in plugins.GroupBy(p => p.Type, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var names = string.Join(", ", group.Select(p => p.Name));
                Line(text, $" {group.Key}:" + (names.Length > 0 ? "\t\t" + names : string.Empty));
            }
        }

        Line(text, "Engine Version:\t\t" + description.Engine?.EngineVersion);
        if (description.Engine?.Labels is { Count: > 0 } engineLabels)
        {
            Line(text, "Engine Labels:");
            Pairs(text, engineLabels);
        }

        if (description.TLSInfo is { } tls && (!string.IsNullOrEmpty(tls.TrustRoot) || tls.CertIssuerSubject is not null || tls.CertIssuerPublicKey is not null))
        {
            Line(text, "TLS Info:");
            Line(text, " TrustRoot:");
            Line(text, tls.TrustRoot ?? string.Empty);
            Line(text, " Issuer Subject:\t" + Convert.ToBase64String(tls.CertIssuerSubject ?? []));
            Line(text, " Issuer Public Key:\t" + Convert.ToBase64String(tls.CertIssuerPublicKey ?? []));
        }

        // The template ends without a newline; the formatter adds one after each node.
        output.Write(text.ToString());
    }

    private static void Line(StringBuilder text, string line) => text.Append(line).Append('\n');

    private static void Pairs(StringBuilder text, Dictionary<string, string> pairs)
    {
        foreach (var (key, value) in pairs.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Line(text, $" - {key}" + (value.Length > 0 ? "=" + value : string.Empty));
        }
    }
}
