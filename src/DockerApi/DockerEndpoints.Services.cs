using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Shoal.DockerApi.Model;
using Proto = Shoal.Api;

namespace Shoal.DockerApi;

// /services (docker-api-subset §2.4): Docker JSON <-> the control API's service calls.
internal sealed partial class DockerEndpoints
{
    private static readonly string[] ServiceFilterKeys = ["id", "name", "label", "mode"];
    private static readonly string[] ServiceModes = ["replicated", "global", "replicated-job", "global-job"];

    private void MapServices(IEndpointRouteBuilder app)
    {
        Route(app, "/services", ServiceListAsync, "GET");
        Route(app, "/services/create", ServiceCreateAsync, "POST");
        Route(app, "/services/{id}", ServiceInspectAsync, "GET");
        Route(app, "/services/{id}", ServiceRemoveAsync, "DELETE");
        Route(app, "/services/{id}/update", ServiceUpdateAsync, "POST");
    }

    private async Task ServiceListAsync(HttpContext context)
    {
        var control = RequireManager();
        var filters = DockerFilters.Parse(context.Request.Query["filters"]).Validate(ServiceFilterKeys);
        var protoFilters = new Proto.ListServicesRequest.Types.Filters();
        protoFilters.IdPrefixes.AddRange(filters.Get("id"));
        protoFilters.NamePrefixes.AddRange(filters.Get("name"));
        protoFilters.Labels.AddRange(filters.Get("label"));
        foreach (var mode in filters.Get("mode"))
        {
            protoFilters.Modes.Add(ServiceModes.Contains(mode)
                ? mode
                : throw DockerApiException.BadRequest($"invalid mode filter: '{mode}' (use \"replicated\", \"global\", \"replicated-job\" or \"global-job\")"));
        }

        var response = await control.ListServicesAsync(
            new Proto.ListServicesRequest { Filters = protoFilters, IncludeStatus = QueryBool(context, "status") },
            cancellationToken: context.RequestAborted);
        var services = response.Services
            .Select(s => ServiceMapping.ToDocker(s, response.Statuses.TryGetValue(s.Id, out var status) ? status : null))
            .ToList();
        await WriteAsync(context, services, DockerJsonContext.Default.ListService);
    }

    private async Task ServiceCreateAsync(HttpContext context)
    {
        var control = RequireManager();
        var spec = await ReadAsync(context, DockerJsonContext.Default.ServiceSpec);
        var protoSpec = ServiceMapping.ToProto(spec, RegistryAuth(context));
        var response = await control.CreateServiceAsync(new Proto.CreateServiceRequest { Spec = protoSpec }, cancellationToken: context.RequestAborted);
        var created = new ServiceCreateResponse
        {
            ID = response.Service.Id,
            Warnings = response.Warnings.Count == 0 ? null : [.. response.Warnings],
        };
        await WriteAsync(context, created, DockerJsonContext.Default.ServiceCreateResponse, StatusCodes.Status201Created);
    }

    private async Task ServiceInspectAsync(HttpContext context)
    {
        var control = RequireManager();
        var service = await FindServiceAsync(control, context, QueryBool(context, "insertDefaults"));
        await WriteAsync(context, ServiceMapping.ToDocker(service), DockerJsonContext.Default.Service);
    }

    private async Task ServiceUpdateAsync(HttpContext context)
    {
        var control = RequireManager();
        if (string.IsNullOrEmpty(context.Request.Query["version"]))
        {
            throw DockerApiException.BadRequest("missing version: pass ?version= with the Version.Index of the service read (docker service inspect)");
        }

        var version = QueryVersion(context, "service");
        var rollback = context.Request.Query["rollback"].ToString() switch
        {
            "" or "none" => false,
            "previous" => true,
            var other => throw DockerApiException.BadRequest($"invalid rollback value '{other}': use \"previous\" or \"none\""),
        };
        var authFrom = context.Request.Query["registryAuthFrom"].ToString();
        if (authFrom is not ("" or "spec" or "previous-spec"))
        {
            throw DockerApiException.BadRequest($"invalid registryAuthFrom value '{authFrom}': use \"spec\" or \"previous-spec\"");
        }

        var current = await FindServiceAsync(control, context, insertDefaults: false);
        var request = new Proto.UpdateServiceRequest { ServiceId = current.Id, Version = version, Rollback = rollback };
        if (!rollback)
        {
            // The JSON spec never carries the registry credentials: keep the stored ones unless new ones are sent.
            var storedAuth = (authFrom == "previous-spec" ? current.PreviousSpec : current.Spec)?.Task?.Container?.PullOptionsRegistryAuth;
            var spec = await ReadAsync(context, DockerJsonContext.Default.ServiceSpec);
            request.Spec = ServiceMapping.ToProto(spec, RegistryAuth(context) ?? storedAuth);
        }
        else
        {
            // A rollback restores the previous spec; the body (the current spec, as the CLI sends it) is ignored.
            request.Spec = current.Spec;
        }

        var response = await control.UpdateServiceAsync(request, cancellationToken: context.RequestAborted);
        var updated = new ServiceUpdateResponse { Warnings = response.Warnings.Count == 0 ? null : [.. response.Warnings] };
        await WriteAsync(context, updated, DockerJsonContext.Default.ServiceUpdateResponse);
    }

    private async Task ServiceRemoveAsync(HttpContext context)
    {
        var control = RequireManager();
        var service = await FindServiceAsync(control, context, insertDefaults: false);
        await control.RemoveServiceAsync(new Proto.RemoveServiceRequest { ServiceId = service.Id }, cancellationToken: context.RequestAborted);
    }

    /// <summary>The service <c>{id}</c> names (ID, name or unique prefix); lookup errors read as moby's own.</summary>
    private static async Task<Proto.Service> FindServiceAsync(Proto.Control.ControlClient control, HttpContext context, bool insertDefaults)
    {
        var reference = (string)context.Request.RouteValues["id"]!;
        try
        {
            var request = new Proto.GetServiceRequest { ServiceRef = reference, InsertDefaults = insertDefaults };
            return (await control.GetServiceAsync(request, cancellationToken: context.RequestAborted)).Service;
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode is Grpc.Core.StatusCode.NotFound or Grpc.Core.StatusCode.InvalidArgument)
        {
            throw DockerErrors.FromRpc(e, detailOnly: true);
        }
    }

    /// <summary>The <c>X-Registry-Auth</c> header (<c>--with-registry-auth</c>); stored with the spec, never logged.</summary>
    private static string? RegistryAuth(HttpContext context)
    {
        var value = context.Request.Headers["X-Registry-Auth"].ToString();
        return string.IsNullOrEmpty(value) ? null : value;
    }
}
