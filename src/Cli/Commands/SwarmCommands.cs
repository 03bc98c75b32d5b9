using System.CommandLine;
using Shoal.Cli.LocalApi;
using Shoal.Cli.Output;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Commands;

/// <summary>
/// <c>shoal swarm …</c>: create a swarm, join or leave one, show and rotate its join tokens, change its settings.
/// Each verb sends the requests <c>docker swarm</c> sends and prints what it prints.
/// </summary>
internal static class SwarmCommands
{
    private const string Worker = NodeRoles.Worker;
    private const string Manager = NodeRoles.Manager;

    /// <summary>The <c>swarm</c> command and its verbs.</summary>
    public static Command Create(CliEnvironment environment)
    {
        var swarm = new Command("swarm", "Manage the swarm: create it, join or leave it, show its join tokens, change its settings");
        swarm.Subcommands.Add(Init(environment));
        swarm.Subcommands.Add(Join(environment));
        swarm.Subcommands.Add(JoinToken(environment));
        swarm.Subcommands.Add(Leave(environment));
        swarm.Subcommands.Add(Update(environment));
        swarm.Subcommands.Add(Inspect(environment));
        return swarm;
    }

    private static Command Init(CliEnvironment environment)
    {
        var command = new Command(
            "init",
            "Initialize a swarm: this node becomes its first manager (and leader), and the command that joins workers to it is printed");
        var listenAddr = Flags.NodeAddress("--listen-addr", "Address the cluster port listens on (format: <ip|interface>[:port]); default: the agent's --listen-addr");
        var advertiseAddr = new Option<string?>("--advertise-addr") { Description = "Address other nodes reach this one at (format: <ip|interface>[:port]); default: chosen by the node", HelpName = "ip|interface[:port]" };
        var dataPathAddr = new Option<string?>("--data-path-addr") { Description = "Address or interface for data path traffic (format: <ip|interface>); default: the advertise address", HelpName = "ip|interface" };
        var dataPathPort = Flags.Integer<uint>("--data-path-port", "Port for data path traffic (1024 - 49151); default 4789");
        var forceNewCluster = new Option<bool>("--force-new-cluster") { Description = "Force create a new cluster from current state" };
        var availability = Flags.OneOf("--availability", "availability", "Availability of this node (active, pause or drain; default active)", NodeAvailabilities.Active, NodeAvailabilities.Pause, NodeAvailabilities.Drain);
        var defaultAddrPool = Flags.Cidrs("--default-addr-pool", "Default address pool in CIDR format (repeat or separate with commas); default 10.0.0.0/8");
        var maskLength = Flags.Integer<uint>("--default-addr-pool-mask-length", "Subnet mask length of the networks carved from the default address pool (default 24)");
        var spec = new SwarmSpecFlags();
        foreach (var option in new Option[] { advertiseAddr, listenAddr, dataPathAddr, dataPathPort, availability, defaultAddrPool, maskLength, forceNewCluster })
        {
            command.Options.Add(option);
        }

        spec.AddTo(command);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var request = new SwarmInitRequest
            {
                ListenAddr = parse.GetValue(listenAddr),
                AdvertiseAddr = parse.GetValue(advertiseAddr) ?? string.Empty,
                DataPathAddr = parse.GetValue(dataPathAddr) ?? string.Empty,
                DataPathPort = parse.GetValue(dataPathPort) ?? 0,
                ForceNewCluster = parse.GetValue(forceNewCluster),
                Spec = spec.MergeInto(new Spec(), parse),
                Availability = parse.GetValue(availability) ?? string.Empty,
                DefaultAddrPool = [.. parse.GetValue(defaultAddrPool) ?? []],
                SubnetSize = parse.GetValue(maskLength) ?? 24,
            };
            var nodeId = await client.SwarmInitAsync(request, cancellationToken);
            var output = environment.Out;
            output.Write($"Swarm initialized: current node ({nodeId}) is now a manager.\n\n");
            await PrintJoinCommandAsync(client, output, nodeId, worker: true, manager: false, cancellationToken);
            output.Write("To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n");
            return 0;
        });
        return command;
    }

    private static Command Join(CliEnvironment environment)
    {
        var command = new Command("join", "Join a swarm as a worker or a manager (the token decides which), through one of its managers");
        var remote = new Argument<string>("HOST:PORT") { Description = "A manager's cluster-port address, as `shoal swarm join-token` prints it" };
        var token = new Option<string>("--token") { Description = "Token for entry into the swarm (`shoal swarm join-token worker|manager` on a manager prints it)", Required = true };
        var listenAddr = Flags.NodeAddress("--listen-addr", "Address the cluster port listens on (format: <ip|interface>[:port]); default: the agent's --listen-addr");
        var advertiseAddr = new Option<string?>("--advertise-addr") { Description = "Address other nodes reach this one at (format: <ip|interface>[:port]); default: chosen by the node", HelpName = "ip|interface[:port]" };
        var dataPathAddr = new Option<string?>("--data-path-addr") { Description = "Address or interface for data path traffic (format: <ip|interface>); default: the advertise address", HelpName = "ip|interface" };
        var availability = Flags.OneOf("--availability", "availability", "Availability of this node (active, pause or drain; default active)", NodeAvailabilities.Active, NodeAvailabilities.Pause, NodeAvailabilities.Drain);
        command.Arguments.Add(remote);
        foreach (var option in new Option[] { token, advertiseAddr, listenAddr, dataPathAddr, availability })
        {
            command.Options.Add(option);
        }

        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            await client.SwarmJoinAsync(
                new SwarmJoinRequest
                {
                    ListenAddr = parse.GetValue(listenAddr),
                    AdvertiseAddr = parse.GetValue(advertiseAddr) ?? string.Empty,
                    DataPathAddr = parse.GetValue(dataPathAddr) ?? string.Empty,
                    RemoteAddrs = [parse.GetRequiredValue(remote)],
                    JoinToken = parse.GetRequiredValue(token),
                    Availability = parse.GetValue(availability) ?? string.Empty,
                },
                cancellationToken);
            var info = await client.InfoAsync(cancellationToken);
            environment.Out.Write(info.Swarm.ControlAvailable ? "This node joined a swarm as a manager.\n" : "This node joined a swarm as a worker.\n");
            return 0;
        });
        return command;
    }

    private static Command JoinToken(CliEnvironment environment)
    {
        var command = new Command("join-token", "Show the command (or with -q, the token) that joins a worker or a manager to this swarm; --rotate replaces the token first");
        var role = new Argument<string>("worker|manager") { Description = "Whose token: worker or manager" };
        role.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<string>();
            if (value is not (Worker or Manager))
            {
                result.AddError($"unknown role {value} (use worker or manager)");
            }
        });
        var rotate = new Option<bool>("--rotate") { Description = "Rotate the join token: the old one stops admitting nodes (nodes already in the swarm stay)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only display the token" };
        command.Arguments.Add(role);
        command.Options.Add(rotate);
        command.Options.Add(quiet);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var whose = parse.GetRequiredValue(role);
            var worker = whose == Worker;
            var output = environment.Out;
            if (parse.GetValue(rotate))
            {
                var current = await client.SwarmInspectAsync(cancellationToken);
                await client.SwarmUpdateAsync(current.Version.Index, current.Spec, rotateWorkerToken: worker, rotateManagerToken: !worker, cancellationToken);
                if (!parse.GetValue(quiet))
                {
                    output.Write($"Successfully rotated {whose} join token.\n\n");
                }
            }

            // Read again: a rotation changed the tokens.
            var swarm = await client.SwarmInspectAsync(cancellationToken);
            if (parse.GetValue(quiet))
            {
                output.Write((worker ? swarm.JoinTokens.Worker : swarm.JoinTokens.Manager) + "\n");
                return 0;
            }

            var info = await client.InfoAsync(cancellationToken);
            await PrintJoinCommandAsync(client, output, info.Swarm.NodeID, worker, !worker, cancellationToken);
            return 0;
        });
        return command;
    }

    private static Command Leave(CliEnvironment environment)
    {
        var command = new Command("leave", "Leave the swarm: this node stops taking work from it (a manager must be demoted first, or forced)");
        var force = new Option<bool>("--force", "-f") { Description = "Force this node to leave the swarm, ignoring warnings (a manager leaving can cost the swarm its quorum)" };
        command.Options.Add(force);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            await client.SwarmLeaveAsync(parse.GetValue(force), cancellationToken);
            environment.Out.Write("Node left the swarm.\n");
            return 0;
        });
        return command;
    }

    private static Command Update(CliEnvironment environment)
    {
        var command = new Command("update", "Change the swarm's settings (give at least one)");
        var spec = new SwarmSpecFlags();
        spec.AddTo(command);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            if (!spec.AnyGiven(parse))
            {
                throw new CommandException($"nothing to update: give at least one of {spec.Names} (see 'shoal swarm update --help')");
            }

            var swarm = await client.SwarmInspectAsync(cancellationToken);
            await client.SwarmUpdateAsync(swarm.Version.Index, spec.MergeInto(swarm.Spec, parse), rotateWorkerToken: false, rotateManagerToken: false, cancellationToken);
            environment.Out.Write("Swarm updated.\n");
            return 0;
        });
        return command;
    }

    private static Command Inspect(CliEnvironment environment)
    {
        var command = new Command("inspect", "Display the swarm as JSON: its ID, version, settings, trust root and join tokens (on a manager)");
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var swarm = await client.SwarmInspectAsync(cancellationToken);
            InspectJson.Write(environment.Out, swarm, InspectJson.Context.Swarm);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// docker's <c>printJoinCommand</c>: the node (for its manager address) and the swarm (for the tokens), then the
    /// command to run on a new node. A node that is not a manager has no address to join through: nothing is printed.
    /// </summary>
    private static async Task PrintJoinCommandAsync(LocalApiClient client, TextWriter output, string nodeId, bool worker, bool manager, CancellationToken cancellationToken)
    {
        var node = await client.NodeInspectAsync(nodeId, cancellationToken);
        var swarm = await client.SwarmInspectAsync(cancellationToken);
        if (node.ManagerStatus is not { } status)
        {
            return;
        }

        if (worker)
        {
            output.Write($"To add a worker to this swarm, run the following command:\n\n    shoal swarm join --token {swarm.JoinTokens.Worker} {status.Addr}\n\n");
        }

        if (manager)
        {
            output.Write($"To add a manager to this swarm, run the following command:\n\n    shoal swarm join --token {swarm.JoinTokens.Manager} {status.Addr}\n\n");
        }
    }
}
