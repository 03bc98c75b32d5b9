using System.CommandLine;
using System.Globalization;
using Shoal.Cli.LocalApi;
using Shoal.Cli.Output;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Commands;

/// <summary>
/// <c>shoal service …</c>: create, list, inspect, scale, update, roll back, remove services, list their tasks and read their
/// logs (on a manager). Each verb sends the requests <c>docker service</c> sends (reference/docker-api-subset.md §3)
/// and prints what it prints; create, scale, update and rollback then wait for the service to converge unless <c>-d</c>.
/// </summary>
internal static class ServiceCommands
{
    private const string NotFound = "no such service: ";

    /// <summary>The <c>service</c> command and its verbs.</summary>
    public static Command Create(CliEnvironment environment)
    {
        var service = new Command("service", "Manage the swarm's services (on a manager): create, list, inspect, scale, update, roll back, remove, their tasks and logs");
        service.Subcommands.Add(CreateVerb(environment));
        service.Subcommands.Add(Inspect(environment));
        service.Subcommands.Add(Logs(environment));
        service.Subcommands.Add(List(environment));
        service.Subcommands.Add(Tasks(environment));
        service.Subcommands.Add(Remove(environment));
        service.Subcommands.Add(Rollback(environment));
        service.Subcommands.Add(Scale(environment));
        service.Subcommands.Add(Update(environment));
        return service;
    }

    private static Command CreateVerb(CliEnvironment environment)
    {
        var command = new Command(
            "create",
            "Create a service: prints its ID, then shows its tasks starting until it has converged (unless --detach). "
            + "Shoal's process executor records IMAGE and runs COMMAND ARG... on the host")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        var flags = new ServiceSpecFlags();
        flags.AddTo(command);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var spec = flags.ToSpec(parse, environment.Variable);
            var response = await client.ServiceCreateAsync(spec, cancellationToken);
            environment.Out.Write(response.ID + "\n");
            foreach (var warning in response.Warnings ?? [])
            {
                environment.Error.WriteLine(warning);
            }

            return parse.GetValue(flags.Detach)
                ? 0
                : await ServiceProgress.WatchAsync(client, response.ID, environment, parse.GetValue(flags.Quiet), TimeProvider.System, cancellationToken);
        });
        return command;
    }

    private static Command List(CliEnvironment environment)
    {
        var command = new Command("ls", "List services: ID, name, mode, running/desired tasks, image, published ports");
        command.Aliases.Add("list");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only display IDs" };
        var filter = FilterOption("id=, name=, label=key[=value], mode=replicated|global|replicated-job|global-job");
        command.Options.Add(filter);
        command.Options.Add(quiet);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var isQuiet = parse.GetValue(quiet);
            // As docker: the task counts only when there is a table to print.
            var services = await client.ServiceListAsync(FiltersOf(parse, filter), status: !isQuiet, cancellationToken);
            if (isQuiet)
            {
                foreach (var service in services.OrderBy(s => s.Spec.Name ?? string.Empty, DockerFormat.NaturalOrder))
                {
                    environment.Out.Write(service.ID + "\n");
                }

                return 0;
            }

            Table.Write(environment.Out, ServiceTables.ServiceRows(services));
            return 0;
        });
        return command;
    }

    private static Command Tasks(CliEnvironment environment)
    {
        var command = new Command("ps", "List the tasks of one or more services: where each runs, its desired and current state, its error; older tasks of a slot below it as \\_ rows");
        var services = ServicesArgument("Services: ID, name or unique ID prefix");
        var filter = FilterOption("id=, name=, node=, desired-state=running|shutdown|accepted");
        var noTrunc = new Option<bool>("--no-trunc") { Description = "Do not truncate output (IDs, images, errors)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only display task IDs" };
        command.Arguments.Add(services);
        command.Options.Add(filter);
        command.Options.Add(noTrunc);
        command.Options.Add(quiet);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var references = parse.GetRequiredValue(services);
            var filters = FiltersOf(parse, filter);
            var notFound = await AddServiceFiltersAsync(client, references, filters, cancellationToken);
            var tasks = await client.TaskListAsync(filters, cancellationToken);
            var isNoTrunc = parse.GetValue(noTrunc);
            if (parse.GetValue(quiet))
            {
                foreach (var (task, _) in ServiceTables.Sorted(tasks, id => id))
                {
                    environment.Out.Write((isNoTrunc ? task.ID : ServiceTables.TruncateId(task.ID)) + "\n");
                }
            }
            else
            {
                var names = new NameResolver(client);
                foreach (var id in tasks.Select(t => t.ServiceID ?? string.Empty).Distinct(StringComparer.Ordinal))
                {
                    await names.ServiceNameAsync(id, cancellationToken);
                }

                foreach (var id in tasks.Select(t => t.NodeID).OfType<string>().Where(id => id.Length > 0).Distinct(StringComparer.Ordinal))
                {
                    await names.NodeNameAsync(id, cancellationToken);
                }

                var rows = ServiceTables.TaskRows(tasks, names.CachedService, names.CachedNode, TimeProvider.System.GetUtcNow(), isNoTrunc);
                Table.Write(environment.Out, rows);
            }

            foreach (var message in notFound)
            {
                environment.Error.WriteLine(message);
            }

            return notFound.Count == 0 ? 0 : 1;
        });
        return command;
    }

    private static Command Inspect(CliEnvironment environment)
    {
        var command = new Command("inspect", "Display detailed information on one or more services: JSON by default, a human summary with --pretty");
        var services = ServicesArgument("Services: ID, name or unique ID prefix");
        var pretty = new Option<bool>("--pretty") { Description = "Print the information in a human friendly format" };
        command.Arguments.Add(services);
        command.Options.Add(pretty);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var found = new List<Service>();
            var errors = new List<string>();
            foreach (var reference in parse.GetRequiredValue(services))
            {
                try
                {
                    found.Add(await client.ServiceInspectAsync(reference, insertDefaults: true, cancellationToken));
                }
                catch (LocalApiException e) when (e.StatusCode == 404)
                {
                    if (parse.GetValue(pretty))
                    {
                        throw new CommandException(NotFound + reference);
                    }

                    errors.Add(NotFound + reference);
                }
                catch (Exception e) when (e is LocalApiException or CommandException && !parse.GetValue(pretty))
                {
                    errors.Add(ClientCommand.Describe(e));
                }
            }

            if (parse.GetValue(pretty))
            {
                for (var i = 0; i < found.Count; i++)
                {
                    if (i > 0)
                    {
                        environment.Out.Write("\n\n");
                    }

                    ServicePretty.Write(environment.Out, found[i]);
                }

                return 0;
            }

            // As docker: what was found is printed (an empty array when nothing was), then every error.
            InspectJson.Write(environment.Out, found, InspectJson.Context.ListService);
            foreach (var error in errors)
            {
                environment.Error.WriteLine(error);
            }

            return errors.Count == 0 ? 0 : 1;
        });
        return command;
    }

    private static Command Scale(CliEnvironment environment)
    {
        var command = new Command("scale", "Scale one or more replicated services (or the completions of replicated jobs), then wait for them to converge unless --detach");
        var scales = new Argument<string[]>("SERVICE=REPLICAS")
        {
            Description = "Services and their new number of tasks, such as web=5",
            Arity = ArgumentArity.OneOrMore,
        };
        scales.Validators.Add(result =>
        {
            foreach (var text in result.GetValueOrDefault<string[]>() ?? [])
            {
                if (!TryParseScale(text, out _, out _))
                {
                    result.AddError($"invalid scale specifier '{text}': write SERVICE=REPLICAS, such as web=5");
                }
            }
        });
        var detach = new Option<bool>("--detach", "-d") { Description = "Exit immediately instead of waiting for the services to converge" };
        command.Arguments.Add(scales);
        command.Options.Add(detach);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var errors = new List<string>();
            var scaled = new List<string>();
            foreach (var text in parse.GetRequiredValue(scales))
            {
                if (!TryParseScale(text, out var reference, out var replicas))
                {
                    // Refused while parsing.
                    continue;
                }

                try
                {
                    var service = await InspectAsync(client, reference, cancellationToken);
                    var mode = service.Spec.Mode;
                    if (mode.Replicated is not null)
                    {
                        mode.Replicated.Replicas = replicas;
                    }
                    else if (mode.ReplicatedJob is not null)
                    {
                        mode.ReplicatedJob.TotalCompletions = replicas;
                    }
                    else
                    {
                        throw new CommandException("scale can only be used with replicated or replicated-job mode");
                    }

                    var response = await client.ServiceUpdateAsync(service.ID, service.Version.Index, service.Spec, registryAuthFrom: null, rollback: false, cancellationToken);
                    WriteWarnings(environment, response.Warnings);
                    environment.Out.Write(string.Create(CultureInfo.InvariantCulture, $"{reference} scaled to {replicas}\n"));
                    scaled.Add(reference);
                }
                catch (Exception e) when (e is LocalApiException or CommandException)
                {
                    errors.Add($"{reference}: {ClientCommand.Describe(e)}");
                }
            }

            if (!parse.GetValue(detach))
            {
                foreach (var reference in scaled)
                {
                    try
                    {
                        if (await ServiceProgress.WatchAsync(client, reference, environment, quiet: false, TimeProvider.System, cancellationToken) != 0)
                        {
                            errors.Add($"{reference}: did not converge");
                        }
                    }
                    catch (Exception e) when (e is LocalApiException or CommandException)
                    {
                        errors.Add($"{reference}: {ClientCommand.Describe(e)}");
                    }
                }
            }

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
        var command = new Command(
            "update",
            "Update a service: its image, command, environment, labels, constraints, resources, replicas, update and rollback configs or health check; "
            + "only the given flags change. The swarm rolls the change out by the update config. Waits for convergence unless --detach");
        var flags = new ServiceUpdateFlags();
        flags.AddTo(command);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var reference = parse.GetRequiredValue(flags.Service);
            var isRollback = parse.GetValue(flags.Rollback);
            if (isRollback && ServiceRolloutFlags.AnyGiven(parse, flags.Changes))
            {
                throw new CommandException("other flags may not be combined with --rollback");
            }

            var current = await InspectAsync(client, reference, cancellationToken);
            var spec = current.Spec;
            if (!isRollback)
            {
                flags.Apply(spec, parse, environment.Variable);
            }

            var response = await client.ServiceUpdateAsync(
                current.ID,
                current.Version.Index,
                spec,
                registryAuthFrom: isRollback ? "previous-spec" : "spec",
                rollback: isRollback,
                cancellationToken);
            WriteWarnings(environment, response.Warnings);
            environment.Out.Write(reference + "\n");
            return parse.GetValue(flags.Detach)
                ? 0
                : await ServiceProgress.WatchAsync(client, reference, environment, parse.GetValue(flags.Quiet), TimeProvider.System, cancellationToken);
        });
        return command;
    }

    private static Command Rollback(CliEnvironment environment)
    {
        var command = new Command(
            "rollback",
            "Revert changes to a service's configuration: the swarm swaps its previous spec back in and rolls it out by the rollback config. "
            + "Waits for convergence unless --detach");
        var service = new Argument<string>("SERVICE") { Description = "The service: ID, name or unique ID prefix" };
        var detach = new Option<bool>("--detach", "-d") { Description = "Exit immediately instead of waiting for the service to converge" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Suppress progress output" };
        command.Arguments.Add(service);
        command.Options.Add(detach);
        command.Options.Add(quiet);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var reference = parse.GetRequiredValue(service);
            var current = await InspectAsync(client, reference, cancellationToken);

            // As docker: the current spec goes along (the daemon ignores it and swaps in the previous one), without registryAuthFrom.
            var response = await client.ServiceUpdateAsync(current.ID, current.Version.Index, current.Spec, registryAuthFrom: null, rollback: true, cancellationToken);
            WriteWarnings(environment, response.Warnings);
            environment.Out.Write(reference + "\n");
            return parse.GetValue(detach)
                ? 0
                : await ServiceProgress.WatchAsync(client, reference, environment, parse.GetValue(quiet), TimeProvider.System, cancellationToken);
        });
        return command;
    }

    private static Command Remove(CliEnvironment environment)
    {
        var command = new Command("rm", "Remove one or more services: their tasks are stopped");
        command.Aliases.Add("remove");
        var services = ServicesArgument("Services to remove: ID, name or unique ID prefix");
        command.Arguments.Add(services);
        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var failed = false;
            foreach (var reference in parse.GetRequiredValue(services))
            {
                try
                {
                    await client.ServiceRemoveAsync(reference, cancellationToken);
                    environment.Out.Write(reference + "\n");
                }
                catch (Exception e) when (e is LocalApiException or CommandException)
                {
                    // As docker: every service is tried; the errors are reported together.
                    environment.Error.WriteLine(e is LocalApiException { StatusCode: 404 } ? NotFound + reference : ClientCommand.Describe(e));
                    failed = true;
                }
            }

            return failed ? 1 : 0;
        });
        return command;
    }

    private static Command Logs(CliEnvironment environment)
    {
        var command = new Command("logs", "Fetch the logs of a service or a task: each line prefixed with service.slot.task@node");
        var target = new Argument<string>("SERVICE|TASK") { Description = "A service (ID, name or prefix) or a task ID" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Follow log output (until Ctrl-C)" };
        var tail = new Option<string?>("--tail", "-n") { Description = "Number of lines to show from the end of the logs (default all)", HelpName = "lines" };
        var timestamps = new Option<bool>("--timestamps", "-t") { Description = "Show timestamps" };
        var noTaskIds = new Option<bool>("--no-task-ids") { Description = "Do not include task IDs in the output" };
        var noTrunc = new Option<bool>("--no-trunc") { Description = "Do not truncate task IDs" };
        var raw = new Option<bool>("--raw") { Description = "Do not neatly format the logs: the lines as the task wrote them" };
        tail.Validators.Add(result =>
        {
            var text = result.GetValueOrDefault<string?>();
            if (text is not null && text != "all" && !int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                result.AddError($"invalid argument \"{text}\" for \"--tail\" flag: a number of lines, or all");
            }
        });
        command.Arguments.Add(target);
        foreach (var option in new Option[] { follow, tail, timestamps, noTaskIds, noTrunc, raw })
        {
            command.Options.Add(option);
        }

        ClientCommand.SetAction(command, environment, async (parse, client, cancellationToken) =>
        {
            var reference = parse.GetRequiredValue(target);
            var isRaw = parse.GetValue(raw);
            string kind;
            bool tty;
            var slotDigits = 0;
            try
            {
                var service = await client.ServiceInspectAsync(reference, insertDefaults: false, cancellationToken);
                kind = "services";
                tty = service.Spec.TaskTemplate.ContainerSpec?.TTY ?? false;
                if (service.Spec.Mode.Replicated?.Replicas is { } replicas)
                {
                    slotDigits = replicas.ToString(CultureInfo.InvariantCulture).Length;
                }
            }
            catch (LocalApiException e) when (e.StatusCode == 404)
            {
                try
                {
                    var task = await client.TaskInspectAsync(reference, cancellationToken);
                    kind = "tasks";
                    tty = task.Spec.ContainerSpec?.TTY ?? false;
                    slotDigits = task.Slot.ToString(CultureInfo.InvariantCulture).Length;
                }
                catch (LocalApiException notTask) when (notTask.StatusCode == 404)
                {
                    throw new CommandException($"no such task or service: {reference} (see `shoal service ls`)");
                }
            }

            if (tty && !isRaw)
            {
                throw new CommandException("tty service logs only supported with --raw");
            }

            var options = new ServiceLogOptions(parse.GetValue(timestamps), parse.GetValue(noTaskIds), parse.GetValue(noTrunc), isRaw);
            var query = LogsQuery(options, parse.GetValue(follow), parse.GetValue(tail) ?? "all");
            try
            {
                using var response = await client.LogsAsync(kind, reference, query, cancellationToken);
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                var writer = new ServiceLogWriter(environment.Out, environment.Error, options, new NameResolver(client), slotDigits);
                if (tty)
                {
                    // A TTY service's stream is the terminal's bytes, unframed.
                    using var reader = new StreamReader(stream);
                    var buffer = new char[4096];
                    int read;
                    while ((read = await reader.ReadAsync(buffer, cancellationToken)) > 0)
                    {
                        await environment.Out.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    }
                }
                else
                {
                    await writer.CopyMultiplexedAsync(stream, cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl-C ends --follow.
            }

            return 0;
        });
        return command;
    }

    /// <summary>The query of a logs request, parameters sorted by name as the Go client sends them.</summary>
    internal static string LogsQuery(ServiceLogOptions options, bool follow, string tail)
    {
        ArgumentNullException.ThrowIfNull(options);
        var query = new List<string>();
        if (!options.Raw)
        {
            query.Add("details=1");
        }

        if (follow)
        {
            query.Add("follow=1");
        }

        query.Add("stderr=1");
        query.Add("stdout=1");
        query.Add("tail=" + Uri.EscapeDataString(tail));
        if (options.Timestamps)
        {
            query.Add("timestamps=1");
        }

        return string.Join('&', query);
    }

    /// <summary>
    /// docker's <c>service ps</c> matching: each reference is a full ID, else a full name, else a unique ID prefix
    /// (<c>GET /services</c> by id, then by name). Adds a <c>service</c> filter per match; returns the references
    /// that matched nothing.
    /// </summary>
    /// <exception cref="CommandException">A prefix matches several services, or no reference matched anything.</exception>
    private static async Task<List<string>> AddServiceFiltersAsync(LocalApiClient client, string[] references, ListFilters filters, CancellationToken cancellationToken)
    {
        var byId = new ListFilters();
        var byName = new ListFilters();
        foreach (var reference in references)
        {
            byId.Add("id", reference);
            byName.Add("name", reference);
        }

        var idMatches = await client.ServiceListAsync(byId, status: false, cancellationToken);
        var nameMatches = await client.ServiceListAsync(byName, status: false, cancellationToken);
        var notFound = new List<string>();
        var matched = 0;
        foreach (var reference in references)
        {
            var exact = idMatches.FirstOrDefault(s => s.ID == reference) ?? nameMatches.FirstOrDefault(s => s.Spec.Name == reference);
            if (exact is not null)
            {
                filters.Add("service", exact.ID);
                matched++;
                continue;
            }

            var prefixed = idMatches.Where(s => s.ID.StartsWith(reference, StringComparison.Ordinal)).ToList();
            if (prefixed.Count > 1)
            {
                throw new CommandException($"multiple services found with provided prefix: {reference} (give more of the ID, or the name)");
            }

            if (prefixed.Count == 1)
            {
                filters.Add("service", prefixed[0].ID);
                matched++;
            }
            else
            {
                notFound.Add(NotFound + reference);
            }
        }

        if (matched == 0)
        {
            throw new CommandException(string.Join("\n", notFound));
        }

        return notFound;
    }

    /// <summary><c>GET /services/{reference}?insertDefaults=false</c>, a 404 said as docker says it.</summary>
    private static async Task<Service> InspectAsync(LocalApiClient client, string reference, CancellationToken cancellationToken)
    {
        try
        {
            return await client.ServiceInspectAsync(reference, insertDefaults: false, cancellationToken);
        }
        catch (LocalApiException e) when (e.StatusCode == 404)
        {
            throw new CommandException($"{NotFound}{reference} (see `shoal service ls`)", e);
        }
    }

    private static bool TryParseScale(string text, out string reference, out ulong replicas)
    {
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        reference = equals > 0 ? text[..equals] : text;
        replicas = 0;
        return equals > 0 && ulong.TryParse(text.AsSpan(equals + 1), NumberStyles.None, CultureInfo.InvariantCulture, out replicas);
    }

    private static void WriteWarnings(CliEnvironment environment, List<string>? warnings)
    {
        foreach (var warning in warnings ?? [])
        {
            environment.Error.WriteLine(warning);
        }
    }

    private static ListFilters FiltersOf(ParseResult parse, Option<string[]> filter) =>
        ListFilters.Parse(parse.GetValue(filter) ?? [], out _)!;

    private static Option<string[]> FilterOption(string keys)
    {
        var filter = new Option<string[]>("--filter", "-f")
        {
            Description = $"Filter output based on conditions provided ({keys}); repeat for more",
            HelpName = "name=value",
        };
        filter.Validators.Add(result =>
        {
            if (ListFilters.Parse(result.GetValueOrDefault<string[]>() ?? [], out var error) is null)
            {
                result.AddError(error!);
            }
        });
        return filter;
    }

    private static Argument<string[]> ServicesArgument(string description) => new("SERVICE")
    {
        Description = description,
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary>
    /// docker's <c>IDResolver</c>: names of nodes and services by ID, each looked up once (<c>GET /nodes/{id}</c>,
    /// <c>GET /services/{id}</c>), the ID itself when the lookup fails; and tasks, for log prefixes.
    /// </summary>
    private sealed class NameResolver(LocalApiClient client) : ILogContextResolver
    {
        private readonly Dictionary<string, string> _nodes = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _services = new(StringComparer.Ordinal);
        private readonly Dictionary<string, SwarmTask> _tasks = new(StringComparer.Ordinal);

        public string CachedNode(string id) => _nodes.GetValueOrDefault(id, id);

        public string CachedService(string id) => _services.GetValueOrDefault(id, id);

        public async Task<string> NodeNameAsync(string nodeId, CancellationToken cancellationToken)
        {
            if (!_nodes.TryGetValue(nodeId, out var name))
            {
                try
                {
                    var node = await client.NodeInspectAsync(nodeId, cancellationToken);
                    name = !string.IsNullOrEmpty(node.Spec.Name) ? node.Spec.Name : node.Description.Hostname ?? nodeId;
                }
                catch (LocalApiException)
                {
                    name = nodeId;
                }

                _nodes[nodeId] = name;
            }

            return name;
        }

        public async Task<string> ServiceNameAsync(string serviceId, CancellationToken cancellationToken)
        {
            if (!_services.TryGetValue(serviceId, out var name))
            {
                try
                {
                    name = (await client.ServiceInspectAsync(serviceId, insertDefaults: false, cancellationToken)).Spec.Name ?? serviceId;
                }
                catch (LocalApiException)
                {
                    name = serviceId;
                }

                _services[serviceId] = name;
            }

            return name;
        }

        public async Task<SwarmTask> TaskAsync(string taskId, CancellationToken cancellationToken)
        {
            if (!_tasks.TryGetValue(taskId, out var task))
            {
                task = await client.TaskInspectAsync(taskId, cancellationToken);
                _tasks[taskId] = task;
            }

            return task;
        }
    }
}
