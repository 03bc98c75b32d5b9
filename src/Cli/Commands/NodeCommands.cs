using System.CommandLine;
using Shoal.Cli.LocalApi;
using Shoal.Cli.Output;
using Shoal.DockerApi.Model;
using DockerNode = Shoal.DockerApi.Model.Node;

namespace Shoal.Cli.Commands;

/// <summary>
/// <c>shoal node …</c>: list, inspect, update, promote, demote and remove the swarm's nodes (on a manager). Each verb
/// sends the requests <c>docker node</c> sends and prints what it prints.
/// </summary>
internal static class NodeCommands
{
    private const string Self = "self";

    /// <summary>The <c>node</c> command and its verbs.</summary>
    public static Command Create(CliEnvironment environment)
    {
        var node = new Command("node", "Manage the swarm's nodes (on a manager): list, inspect, update, promote, demote, remove");
        node.Subcommands.Add(List(environment));
        node.Subcommands.Add(Inspect(environment));
        node.Subcommands.Add(Update(environment));
        node.Subcommands.Add(Promote(environment));
        node.Subcommands.Add(Demote(environment));
        node.Subcommands.Add(Remove(environment));
        return node;
    }

    private static Command List(CliEnvironment environment)
    {
        var command = new Command("ls", "List the swarm's nodes: ID (this node starred), hostname, status, availability, manager status, engine version");
        command.Aliases.Add("list");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only display IDs" };
        var filter = new Option<string[]>("--filter", "-f")
        {
            Description = "Filter output based on conditions provided (id=, name=, label=, node.label=, role=manager|worker, membership=accepted|pending); repeat for more",
            HelpName = "name=value",
        };
        filter.Validators.Add(result =>
        {
            if (ListFilters.Parse(result.GetValueOrDefault<string[]>() ?? [], out var error) is null)
            {
                result.AddError(error!);
            }
        });
        command.Options.Add(quiet);
        command.Options.Add(filter);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var filters = ListFilters.Parse(parse.GetValue(filter) ?? [], out _)!;
            var isQuiet = parse.GetValue(quiet);
            var nodes = await client.NodeListAsync(filters, cancellationToken);
            // As docker: /info (for the self node's star) only when there is a table to print.
            var self = nodes.Count > 0 && !isQuiet ? (await client.InfoAsync(cancellationToken)).Swarm.NodeID : null;
            var sorted = nodes
                .OrderBy(n => n.Description.Hostname ?? string.Empty, DockerFormat.NaturalOrder)
                .ThenBy(n => n.ID, StringComparer.Ordinal)
                .ToList();
            if (isQuiet)
            {
                foreach (var node in sorted)
                {
                    environment.Out.Write(node.ID + "\n");
                }

                return 0;
            }

            // docker's header: its ID cell comes from the same template as the rows' ("{{.ID}} {{if .Self}}*{{else}} {{end}}").
            List<string[]> rows = [["ID  ", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"]];
            rows.AddRange(sorted.Select(n => new[]
            {
                n.ID + (n.ID == self ? " *" : "  "),
                n.Description.Hostname ?? string.Empty,
                DockerFormat.Capitalize(n.Status.State),
                DockerFormat.Capitalize(n.Spec.Availability),
                n.ManagerStatus is null ? string.Empty : n.ManagerStatus.Leader ? "Leader" : DockerFormat.Capitalize(n.ManagerStatus.Reachability),
                n.Description.Engine?.EngineVersion ?? string.Empty,
            }));
            Table.Write(environment.Out, rows);
            return 0;
        });
        return command;
    }

    private static Command Inspect(CliEnvironment environment)
    {
        var command = new Command("inspect", "Display detailed information on one or more nodes: JSON by default, a human summary with --pretty");
        var nodes = NodesArgument("self|NODE", "Nodes to inspect: ID, name, hostname or unique ID prefix; `self` is this node");
        var pretty = new Option<bool>("--pretty") { Description = "Print the information in a human friendly format" };
        command.Arguments.Add(nodes);
        command.Options.Add(pretty);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var found = new List<DockerNode>();
            var errors = new List<string>();
            foreach (var reference in parse.GetRequiredValue(nodes))
            {
                try
                {
                    found.Add(await client.NodeInspectAsync(await ReferenceAsync(client, reference, cancellationToken), cancellationToken));
                }
                catch (Exception e) when (e is LocalApiException or CommandException)
                {
                    if (parse.GetValue(pretty))
                    {
                        // As docker: the summary is all or nothing.
                        throw;
                    }

                    errors.Add(ClientCommand.Describe(e));
                }
            }

            if (parse.GetValue(pretty))
            {
                foreach (var node in found)
                {
                    NodePretty.Write(environment.Out, node);
                }

                return 0;
            }

            // As docker: what was found is printed (an empty array when nothing was), then every error.
            InspectJson.Write(environment.Out, found, InspectJson.Context.ListNode);
            foreach (var error in errors)
            {
                environment.Error.WriteLine(error);
            }

            return errors.Count == 0 ? 0 : 1;
        });
        return command;
    }

    private static Command Update(CliEnvironment environment)
    {
        var command = new Command("update", "Update a node: its availability for tasks, its role, its labels");
        var node = new Argument<string>("NODE") { Description = "The node: ID, name, hostname or unique ID prefix" };
        var availability = Flags.OneOf("--availability", "availability", "Availability of the node: active (takes tasks), pause (keeps its tasks, takes no new ones), drain (its tasks move elsewhere)", NodeAvailabilities.Active, NodeAvailabilities.Pause, NodeAvailabilities.Drain);
        var role = Flags.OneOf("--role", "role", "Role of the node: worker or manager", NodeRoles.Worker, NodeRoles.Manager);
        var labelAdd = new Option<string[]>("--label-add") { Description = "Add or update a node label (key=value); repeat for more", HelpName = "key=value" };
        var labelRemove = new Option<string[]>("--label-rm") { Description = "Remove a node label (key); repeat for more", HelpName = "key" };
        command.Arguments.Add(node);
        command.Options.Add(availability);
        command.Options.Add(role);
        command.Options.Add(labelAdd);
        command.Options.Add(labelRemove);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var reference = parse.GetRequiredValue(node);
            await UpdateAsync(client, reference, found =>
            {
                var spec = found.Spec;
                if (parse.GetValue(role) is { } newRole)
                {
                    spec.Role = newRole;
                }

                if (parse.GetValue(availability) is { } newAvailability)
                {
                    spec.Availability = newAvailability;
                }

                spec.Labels ??= [];
                foreach (var label in parse.GetValue(labelAdd) ?? [])
                {
                    // As docker's ConvertKVStringsToMap: "key" alone sets an empty value.
                    var equals = label.IndexOf('=', StringComparison.Ordinal);
                    spec.Labels[equals < 0 ? label : label[..equals]] = equals < 0 ? string.Empty : label[(equals + 1)..];
                }

                foreach (var key in parse.GetValue(labelRemove) ?? [])
                {
                    if (!spec.Labels.Remove(key))
                    {
                        throw new CommandException($"key {key} doesn't exist in node's labels");
                    }
                }

                return true;
            }, cancellationToken);
            environment.Out.Write(reference + "\n");
            return 0;
        });
        return command;
    }

    private static Command Promote(CliEnvironment environment) =>
        RoleCommand(environment, "promote", "Promote one or more nodes to manager in the swarm", NodeRoles.Manager);

    private static Command Demote(CliEnvironment environment) =>
        RoleCommand(environment, "demote", "Demote one or more nodes from manager in the swarm", NodeRoles.Worker);

    /// <summary><c>promote</c> and <c>demote</c>: the same update of each node's role.</summary>
    private static Command RoleCommand(CliEnvironment environment, string name, string description, string role)
    {
        var command = new Command(name, description);
        var nodes = NodesArgument("NODE", $"Nodes to {name}: ID, name, hostname or unique ID prefix");
        command.Arguments.Add(nodes);
        ClientCommand.SetAction(command, environment, (parse, client, cancellationToken) =>
            ChangeRolesAsync(environment.Out, client, parse.GetRequiredValue(nodes), role, cancellationToken));
        return command;
    }

    private static Command Remove(CliEnvironment environment)
    {
        var command = new Command("rm", "Remove one or more nodes from the swarm (a live node only with --force; a manager must be demoted first)");
        command.Aliases.Add("remove");
        var nodes = NodesArgument("NODE", "Nodes to remove: ID, name, hostname or unique ID prefix");
        var force = new Option<bool>("--force", "-f") { Description = "Force remove a node from the swarm, even one that is not down" };
        command.Arguments.Add(nodes);
        command.Options.Add(force);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var failed = false;
            foreach (var reference in parse.GetRequiredValue(nodes))
            {
                try
                {
                    await client.NodeRemoveAsync(reference, parse.GetValue(force), cancellationToken);
                    environment.Out.Write(reference + "\n");
                }
                catch (Exception e) when (e is LocalApiException or CommandException)
                {
                    // As docker: every node is tried; the errors are reported together.
                    environment.Error.WriteLine(ClientCommand.Describe(e));
                    failed = true;
                }
            }

            return failed ? 1 : 0;
        });
        return command;
    }

    /// <summary>docker's <c>promote</c>/<c>demote</c>: a node already in the role is reported and skipped.</summary>
    private static async Task<int> ChangeRolesAsync(TextWriter output, LocalApiClient client, string[] references, string role, CancellationToken cancellationToken)
    {
        foreach (var reference in references)
        {
            var changed = await UpdateAsync(client, reference, node =>
            {
                if (node.Spec.Role == role)
                {
                    output.Write(role == NodeRoles.Manager ? $"Node {node.ID} is already a manager.\n" : $"Node {node.ID} is already a worker.\n");
                    return false;
                }

                node.Spec.Role = role;
                return true;
            }, cancellationToken);
            if (changed)
            {
                output.Write(role == NodeRoles.Manager ? $"Node {reference} promoted to a manager in the swarm.\n" : $"Manager {reference} demoted in the swarm.\n");
            }
        }

        return 0;
    }

    /// <summary>
    /// docker's <c>updateNodes</c> for one node: read it, edit its spec, send the spec back with the version read. An
    /// edit that returns false leaves the node alone. Returns whether the node was updated.
    /// </summary>
    private static async Task<bool> UpdateAsync(LocalApiClient client, string reference, Func<DockerNode, bool> edit, CancellationToken cancellationToken)
    {
        var node = await client.NodeInspectAsync(reference, cancellationToken);
        if (!edit(node))
        {
            return false;
        }

        await client.NodeUpdateAsync(node.ID, node.Version.Index, node.Spec, cancellationToken);
        return true;
    }

    /// <summary>docker's node <c>Reference</c>: <c>self</c> is the node the CLI talks to.</summary>
    private static async Task<string> ReferenceAsync(LocalApiClient client, string reference, CancellationToken cancellationToken)
    {
        if (reference != Self)
        {
            return reference;
        }

        var info = await client.InfoAsync(cancellationToken);
        if (info.Swarm.NodeID.Length > 0)
        {
            return info.Swarm.NodeID;
        }

        // No node ID: the node is probably no manager; a node list says so in the node's own words.
        await client.NodeListAsync(new ListFilters(), cancellationToken);
        throw new CommandException("node ID not found in /info");
    }

    private static Argument<string[]> NodesArgument(string name, string description) => new(name)
    {
        Description = description,
        Arity = ArgumentArity.OneOrMore,
    };
}
