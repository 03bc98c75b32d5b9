using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Shoal.DockerApi.Model;
using Proto = Shoal.Api;

namespace Shoal.DockerApi;

/// <summary>The routes of the Docker API: each one turns Docker JSON into control calls and back, nothing more.</summary>
internal sealed partial class DockerEndpoints(ISwarmNode node, ILogger logger)
{
    private static readonly string[] NodeFilterKeys = ["id", "name", "label", "node.label", "role", "membership"];

    public void Map(IEndpointRouteBuilder app)
    {
        Route(app, "/_ping", PingAsync, "GET", "HEAD");
        Route(app, "/version", VersionAsync, "GET");
        Route(app, "/info", InfoAsync, "GET");
        Route(app, "/swarm", SwarmInspectAsync, "GET");
        Route(app, "/swarm/init", SwarmInitAsync, "POST");
        Route(app, "/swarm/join", SwarmJoinAsync, "POST");
        Route(app, "/swarm/leave", SwarmLeaveAsync, "POST");
        Route(app, "/swarm/update", SwarmUpdateAsync, "POST");
        Route(app, "/swarm/unlockkey", UnlockKeyAsync, "GET");
        Route(app, "/nodes", NodeListAsync, "GET");
        Route(app, "/nodes/{id}", NodeInspectAsync, "GET");
        Route(app, "/nodes/{id}", NodeRemoveAsync, "DELETE");
        Route(app, "/nodes/{id}/update", NodeUpdateAsync, "POST");
        MapServices(app);
        MapTasks(app);
        MapLogs(app);
        MapDistribution(app);
    }

    private static void Route(IEndpointRouteBuilder app, string pattern, Func<HttpContext, Task> handler, params string[] methods) =>
        app.MapMethods(pattern, methods, new RequestDelegate(handler));

    private Task PingAsync(HttpContext context)
    {
        var info = node.Info;
        var headers = context.Response.Headers;
        headers["Swarm"] = info.LocalNodeState == LocalNodeStates.Active
            ? "active/" + (info.ControlAvailable ? NodeRoles.Manager : NodeRoles.Worker)
            : info.LocalNodeState;
        headers.CacheControl = "no-cache, no-store, must-revalidate";
        headers.Pragma = "no-cache";
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.ContentLength = 2;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : context.Response.WriteAsync("OK", context.RequestAborted);
    }

    private Task VersionAsync(HttpContext context)
    {
        var info = node.Info;
        var arch = GoArch(info.Architecture);
        var version = new SystemVersion
        {
            Platform = new PlatformName { Name = "Shoal" },
            Components =
            [
                new ComponentVersion
                {
                    Name = "Engine",
                    Version = info.Version,
                    Details = new Dictionary<string, string>
                    {
                        ["ApiVersion"] = DockerApiServer.ApiVersion,
                        ["MinAPIVersion"] = DockerApiServer.MinApiVersion,
                        ["Os"] = "linux",
                        ["Arch"] = arch,
                        ["KernelVersion"] = info.KernelVersion,
                        ["Experimental"] = "false",
                        ["GitCommit"] = string.Empty,
                        ["GoVersion"] = string.Empty,
                        ["BuildTime"] = string.Empty,
                    },
                },
            ],
            Version = info.Version,
            ApiVersion = DockerApiServer.ApiVersion,
            MinAPIVersion = DockerApiServer.MinApiVersion,
            Os = "linux",
            Arch = arch,
            KernelVersion = info.KernelVersion,
        };
        return WriteAsync(context, version, DockerJsonContext.Default.SystemVersion);
    }

    private async Task InfoAsync(HttpContext context)
    {
        var local = node.Info;
        var swarm = new SwarmInfo
        {
            NodeID = local.NodeId,
            NodeAddr = local.NodeAddr,
            LocalNodeState = local.LocalNodeState,
            ControlAvailable = local.ControlAvailable,
            Error = local.Error,
            RemoteManagers = local.RemoteManagers.Count == 0 ? null : [.. local.RemoteManagers],
        };
        if (local.ControlAvailable && node.Control is { } control)
        {
            try
            {
                var nodes = (await control.ListNodesAsync(new Proto.ListNodesRequest(), cancellationToken: context.RequestAborted)).Nodes;
                swarm.Nodes = nodes.Count;
                swarm.Managers = nodes.Count(n => n.Role == Proto.NodeRole.Manager);
                var cluster = (await control.GetClusterAsync(new Proto.GetClusterRequest(), cancellationToken: context.RequestAborted)).Cluster;
                swarm.Cluster = SwarmMapping.ToClusterInfo(cluster);
            }
            catch (Grpc.Core.RpcException e)
            {
                // As moby: the rest of /info still answers; docker info shows the error instead of the cluster block.
                swarm.Error = DockerErrors.FromRpc(e).Message;
            }
        }

        var info = new Info
        {
            ID = local.NodeId,
            Name = local.Hostname,
            ServerVersion = local.Version,
            OperatingSystem = local.OperatingSystem,
            OSType = "linux",
            Architecture = local.Architecture,
            KernelVersion = local.KernelVersion,
            NCPU = local.NCPU,
            MemTotal = local.MemTotal,
            Plugins = new PluginsInfo { Network = ["overlay"] },
            SystemTime = DateTimeOffset.UtcNow,
            Swarm = swarm,
        };
        await WriteAsync(context, info, DockerJsonContext.Default.Info);
    }

    private async Task SwarmInspectAsync(HttpContext context)
    {
        var control = RequireManager();
        var cluster = (await control.GetClusterAsync(new Proto.GetClusterRequest(), cancellationToken: context.RequestAborted)).Cluster;
        await WriteAsync(context, SwarmMapping.ToSwarm(cluster), DockerJsonContext.Default.Swarm);
    }

    private async Task SwarmInitAsync(HttpContext context)
    {
        var request = await ReadAsync(context, DockerJsonContext.Default.SwarmInitRequest);
        var nodeId = await node.InitAsync(request, context.RequestAborted);
        await WriteAsync(context, nodeId, DockerJsonContext.Default.String);
    }

    private async Task SwarmJoinAsync(HttpContext context)
    {
        var request = await ReadAsync(context, DockerJsonContext.Default.SwarmJoinRequest);
        await node.JoinAsync(request, context.RequestAborted);
    }

    private Task SwarmLeaveAsync(HttpContext context) => node.LeaveAsync(QueryBool(context, "force"), context.RequestAborted);

    private async Task SwarmUpdateAsync(HttpContext context)
    {
        var control = RequireManager();
        var version = QueryVersion(context, "swarm");
        var spec = await ReadAsync(context, DockerJsonContext.Default.Spec);
        var cluster = (await control.GetClusterAsync(new Proto.GetClusterRequest(), cancellationToken: context.RequestAborted)).Cluster;
        await control.UpdateClusterAsync(
            new Proto.UpdateClusterRequest
            {
                ClusterId = cluster.Id,
                Version = version,
                Spec = SwarmMapping.Merge(spec, cluster.Spec),
                RotateWorkerToken = QueryBool(context, "rotateWorkerToken"),
                RotateManagerToken = QueryBool(context, "rotateManagerToken"),
                RotateManagerUnlockKey = QueryBool(context, "rotateManagerUnlockKey"),
            },
            cancellationToken: context.RequestAborted);
    }

    private async Task UnlockKeyAsync(HttpContext context)
    {
        var control = RequireManager();
        var cluster = (await control.GetClusterAsync(new Proto.GetClusterRequest(), cancellationToken: context.RequestAborted)).Cluster;
        if (cluster.Spec?.EncryptionConfig?.AutoLockManagers == true)
        {
            throw new DockerApiException(501, "autolock is not supported yet: this swarm has no unlock key");
        }

        await WriteAsync(context, new UnlockKeyResponse { UnlockKey = string.Empty }, DockerJsonContext.Default.UnlockKeyResponse);
    }

    private async Task NodeListAsync(HttpContext context)
    {
        var control = RequireManager();
        var filters = DockerFilters.Parse(context.Request.Query["filters"]).Validate(NodeFilterKeys);
        var protoFilters = new Proto.ListNodesRequest.Types.Filters();
        protoFilters.IdPrefixes.AddRange(filters.Get("id"));
        protoFilters.NamePrefixes.AddRange(filters.Get("name"));
        protoFilters.Labels.AddRange(filters.Get("label"));
        protoFilters.NodeLabels.AddRange(filters.Get("node.label"));
        foreach (var role in filters.Get("role"))
        {
            protoFilters.Roles.Add(NodeMapping.ParseRole(role) ?? throw DockerApiException.BadRequest($"invalid role filter: '{role}' (use \"manager\" or \"worker\")"));
        }

        foreach (var membership in filters.Get("membership"))
        {
            protoFilters.Memberships.Add(NodeMapping.ParseMembership(membership)
                ?? throw DockerApiException.BadRequest($"invalid membership filter: '{membership}' (use \"accepted\" or \"pending\")"));
        }

        var nodes = (await control.ListNodesAsync(new Proto.ListNodesRequest { Filters = protoFilters }, cancellationToken: context.RequestAborted)).Nodes;
        await WriteAsync(context, [.. nodes.Select(NodeMapping.ToDocker)], DockerJsonContext.Default.ListNode);
    }

    private async Task NodeInspectAsync(HttpContext context)
    {
        var control = RequireManager();
        var found = await FindNodeAsync(control, context);
        await WriteAsync(context, NodeMapping.ToDocker(found), DockerJsonContext.Default.Node);
    }

    private async Task NodeUpdateAsync(HttpContext context)
    {
        var control = RequireManager();
        var version = QueryVersion(context, "node");
        var spec = await ReadAsync(context, DockerJsonContext.Default.NodeSpec);
        var found = await FindNodeAsync(control, context);
        var protoSpec = NodeMapping.ToProto(spec, found.Spec?.Membership ?? Proto.NodeMembership.Accepted);
        await control.UpdateNodeAsync(
            new Proto.UpdateNodeRequest { NodeId = found.Id, Version = version, Spec = protoSpec },
            cancellationToken: context.RequestAborted);
    }

    private async Task NodeRemoveAsync(HttpContext context)
    {
        var control = RequireManager();
        var found = await FindNodeAsync(control, context);
        await control.RemoveNodeAsync(new Proto.RemoveNodeRequest { NodeId = found.Id, Force = QueryBool(context, "force") }, cancellationToken: context.RequestAborted);
    }

    /// <summary>The node <c>{id}</c> names (ID, name, hostname or unique prefix); lookup errors read as moby's own.</summary>
    private static async Task<Proto.Node> FindNodeAsync(Proto.Control.ControlClient control, HttpContext context)
    {
        var reference = (string)context.Request.RouteValues["id"]!;
        try
        {
            return (await control.GetNodeAsync(new Proto.GetNodeRequest { NodeRef = reference }, cancellationToken: context.RequestAborted)).Node;
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode is Grpc.Core.StatusCode.NotFound or Grpc.Core.StatusCode.InvalidArgument)
        {
            throw DockerErrors.FromRpc(e, detailOnly: true);
        }
    }

    /// <summary>The control API, or 503 with the message Docker users know when this node can't serve it.</summary>
    private Proto.Control.ControlClient RequireManager()
    {
        if (node.Info.LocalNodeState == LocalNodeStates.Locked)
        {
            throw new DockerApiException(503, DockerApiException.LockedMessage);
        }

        if (node.Control is { } control)
        {
            return control;
        }

        // A node in error (e.g. its manager part stopped on a storage failure and is restarting) says why, not that
        // it is no manager.
        var info = node.Info;
        throw info is { LocalNodeState: LocalNodeStates.Error, Error.Length: > 0 }
            ? new DockerApiException(503, $"This node's manager is unavailable: {info.Error}")
            : new DockerApiException(503, DockerApiException.NotAManagerMessage);
    }

    private static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(context.Request.Body, type, context.RequestAborted)
                ?? throw DockerApiException.BadRequest("the request body must be a JSON object, not null");
        }
        catch (JsonException e)
        {
            var what = context.Request.ContentLength == 0 ? "the request body is empty" : e.Message;
            throw DockerApiException.BadRequest($"malformed JSON in the request body: {what}");
        }
    }

    private static Task WriteAsync<T>(HttpContext context, T value, JsonTypeInfo<T> type, int statusCode = StatusCodes.Status200OK)
    {
        context.Response.StatusCode = statusCode;
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }

    /// <summary>A boolean query parameter as moby reads it: absent, "", "0", "no", "false" and "none" are false.</summary>
    private static bool QueryBool(HttpContext context, string name)
    {
        var value = context.Request.Query[name].ToString().Trim().ToLowerInvariant();
        return value is not ("" or "0" or "no" or "false" or "none");
    }

    private static ulong QueryVersion(HttpContext context, string kind)
    {
        var text = context.Request.Query["version"].ToString();
        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var version)
            ? version
            : throw DockerApiException.BadRequest($"invalid {kind} version '{text}': it must be the Version.Index of the object read");
    }

    private static string GoArch(string architecture) => architecture switch
    {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        _ => architecture,
    };
}
