using System.Runtime.Versioning;
using System.Text.Json;
using System.Text.Json.Nodes;
using Shoal.DockerApi.Model;
using Shoal.TestKit;
using Proto = Shoal.Api;

namespace Shoal.DockerApi.Tests;

/// <summary><c>/services</c>, <c>/tasks</c> and <c>/distribution</c> over the unix socket, against the real control API.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class ServiceEndpointTests : IAsyncLifetime
{
    /// <summary>The body of <c>docker service create --replicas 3 --name web --publish 8080:80 --env A=B …</c> (observed).</summary>
    private const string CliCreateBody = """
        {"Name":"web","Labels":{},
         "TaskTemplate":{
           "ContainerSpec":{"Image":"busybox:latest","Args":["sleep","1000"],"Env":["A=B"],"Init":false,"DNSConfig":{}},
           "Resources":{"Limits":{},"Reservations":{}},
           "Placement":{"Constraints":["node.role==worker"]},
           "ForceUpdate":0},
         "Mode":{"Replicated":{"Replicas":3}},
         "UpdateConfig":{"Parallelism":2,"Delay":10000000000,"FailureAction":"pause","Monitor":5000000000,
                         "MaxFailureRatio":0,"Order":"stop-first"},
         "EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}
        """;

    private DockerApiHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await DockerApiHost.StartAsync();

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Create_Is201_WithTheId_AndTheSpecReadsBackVerbatim()
    {
        var (status, body) = await _host.SendAsync(HttpMethod.Post, "/v1.50/services/create", CliCreateBody, Ct);

        Assert.Equal(201, status);
        var created = JsonSerializer.Deserialize(body, DockerJsonContext.Default.ServiceCreateResponse)!;
        Assert.Equal(25, created.ID.Length);
        var (_, raw) = await _host.SendAsync(HttpMethod.Get, $"/v1.50/services/{created.ID}?insertDefaults=false", null, Ct);
        var service = JsonNode.Parse(raw)!;
        Assert.Equal(created.ID, (string?)service["ID"]);
        Assert.True(
            JsonNode.DeepEquals(JsonNode.Parse(CliCreateBody), service["Spec"]),
            $"the stored spec must read back as posted\nposted: {CliCreateBody}\nread:   {service["Spec"]!.ToJsonString()}");
        Assert.NotNull(service["CreatedAt"]);
        Assert.Null(service["PreviousSpec"]);
    }

    [Fact]
    public async Task Create_ReplicatedWithoutReplicas_StoresOne()
    {
        var id = await CreateAsync("""{"Name":"one","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{}}}""");

        var service = await _host.GetOkAsync<Service>($"/services/{id}", Ct);

        Assert.Equal(1UL, service.Spec.Mode.Replicated!.Replicas);
        Assert.Equal(1, _host.Plane.Store.View().Services.Get(id)!.Spec.Replicated.Replicas);
    }

    [Fact]
    public async Task Create_ExistingName_Is409_BadSpec_Is400()
    {
        await CreateAsync(CliCreateBody);

        var (conflict, conflictMessage) = await _host.SendAsync(HttpMethod.Post, "/services/create", CliCreateBody.Replace("8080", "8081", StringComparison.Ordinal), Ct);
        Assert.Equal(409, conflict);
        Assert.Contains("web", conflictMessage, StringComparison.Ordinal);

        var (badValue, badValueMessage) = await _host.SendAsync(HttpMethod.Post, "/services/create",
            """{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"RestartPolicy":{"Condition":"sometimes"}}}""", Ct);
        Assert.Equal((400, "invalid TaskTemplate.RestartPolicy.Condition \"sometimes\": use \"none\", \"on-failure\" or \"any\""), (badValue, badValueMessage));

        var (invalid, _) = await _host.SendAsync(HttpMethod.Post, "/services/create", """{"Name":"noimage","TaskTemplate":{"ContainerSpec":{}}}""", Ct);
        Assert.Equal(400, invalid);

        var (malformed, malformedMessage) = await _host.SendAsync(HttpMethod.Post, "/services/create", "{\"Name\":", Ct);
        Assert.Equal(400, malformed);
        Assert.Contains("malformed JSON", malformedMessage, StringComparison.Ordinal);
        Assert.Single(_host.Plane.Store.View().Services.All());
    }

    [Fact]
    public async Task List_AppliesFilters_AndCountsTasksWithStatus()
    {
        var web = await CreateAsync(Spec("web", labels: """{"com.docker.stack.namespace":"s"}"""));
        var api = await CreateAsync(Spec("api", mode: """{"Global":{}}"""));

        Assert.Equal([api, web], await ListIdsAsync("/services"));
        Assert.Equal([web], await ListIdsAsync("/services?filters=" + Uri.EscapeDataString("""{"name":{"we":true}}""")));
        Assert.Equal([web], await ListIdsAsync("/services?filters=" + Uri.EscapeDataString($$"""{"id":["{{web[..6]}}"]}""")));
        Assert.Equal([web], await ListIdsAsync("/services?filters=" + Uri.EscapeDataString("""{"label":{"com.docker.stack.namespace=s":true}}""")));
        Assert.Equal([api], await ListIdsAsync("/services?filters=" + Uri.EscapeDataString("""{"mode":{"global":true}}""")));

        var withStatus = await _host.GetOkAsync<List<Service>>("/services?status=true", Ct);
        Assert.All(withStatus, s => Assert.NotNull(s.ServiceStatus));
        Assert.Equal(2UL, withStatus.Single(s => s.ID == web).ServiceStatus!.DesiredTasks);
        Assert.All(await _host.GetOkAsync<List<Service>>("/services", Ct), s => Assert.Null(s.ServiceStatus));

        Assert.Equal((400, "invalid filter 'color'"), await _host.SendAsync(HttpMethod.Get, "/services?filters=" + Uri.EscapeDataString("""{"color":{"red":true}}"""), null, Ct));
        var (badMode, _) = await _host.SendAsync(HttpMethod.Get, "/services?filters=" + Uri.EscapeDataString("""{"mode":{"sometimes":true}}"""), null, Ct);
        Assert.Equal(400, badMode);
    }

    [Fact]
    public async Task Inspect_ByIdNameAndPrefix_InsertDefaultsForDisplay_UnknownIs404()
    {
        var id = await CreateAsync(Spec("web"));

        Assert.Equal(id, (await _host.GetOkAsync<Service>($"/services/{id}", Ct)).ID);
        Assert.Equal(id, (await _host.GetOkAsync<Service>("/services/web", Ct)).ID);
        Assert.Equal(id, (await _host.GetOkAsync<Service>($"/services/{id[..5]}", Ct)).ID);
        Assert.Null((await _host.GetOkAsync<Service>("/services/web?insertDefaults=false", Ct)).Spec.TaskTemplate.RestartPolicy);
        Assert.Equal("any", (await _host.GetOkAsync<Service>("/services/web?insertDefaults=true", Ct)).Spec.TaskTemplate.RestartPolicy?.Condition);
        Assert.Equal((404, "service nosuch not found"), await _host.SendAsync(HttpMethod.Get, "/services/nosuch", null, Ct));
    }

    [Fact]
    public async Task Update_WithTheVersionRead_ReplacesTheSpec_AndKeepsThePrevious()
    {
        var id = await CreateAsync(Spec("web"));
        var read = await _host.GetOkAsync<Service>("/services/web?insertDefaults=false", Ct);
        read.Spec.Mode.Replicated!.Replicas = 5;
        read.Spec.TaskTemplate.ContainerSpec!.Env = ["A=B"];

        var (status, body) = await _host.PostAsync($"/services/{id}/update?version={read.Version.Index}&registryAuthFrom=spec", read.Spec, DockerJsonContext.Default.ServiceSpec, Ct);

        Assert.Equal(200, status);
        Assert.Equal("{}", body);
        var updated = await _host.GetOkAsync<Service>("/services/web", Ct);
        Assert.Equal(5UL, updated.Spec.Mode.Replicated!.Replicas);
        Assert.Equal(["A=B"], updated.Spec.TaskTemplate.ContainerSpec!.Env);
        Assert.Equal(2UL, updated.PreviousSpec!.Mode.Replicated!.Replicas);
        Assert.True(updated.Version.Index > read.Version.Index);
    }

    [Fact]
    public async Task Update_RegistryAuth_IsKeptAcrossUpdatesWithoutTheHeader()
    {
        using (var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/services/create", UriKind.Relative)))
        {
            request.Content = new StringContent(Spec("web"), System.Text.Encoding.UTF8, "application/json");
            request.Headers.Add("X-Registry-Auth", "eyJ1c2VybmFtZSI6InUifQ==");
            using var response = await _host.Http.SendAsync(request, Ct);
            Assert.Equal(201, (int)response.StatusCode);
        }

        var read = await _host.GetOkAsync<Service>("/services/web", Ct);
        var (status, _) = await _host.PostAsync($"/services/web/update?version={read.Version.Index}", read.Spec, DockerJsonContext.Default.ServiceSpec, Ct);

        Assert.Equal(200, status);
        var stored = _host.Plane.Store.View().Services.Get(read.ID)!;
        Assert.Equal("eyJ1c2VybmFtZSI6InUifQ==", stored.Spec.Task.Container.PullOptionsRegistryAuth);
        Assert.DoesNotContain("eyJ1c2VybmFtZSI6InUifQ", (await _host.SendAsync(HttpMethod.Get, "/services/web", null, Ct)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_Refusals_HaveDockersStatusCodes()
    {
        await CreateAsync(Spec("web"));
        var read = await _host.GetOkAsync<Service>("/services/web", Ct);
        var spec = JsonSerializer.Serialize(read.Spec, DockerJsonContext.Default.ServiceSpec);

        var (missing, missingMessage) = await _host.SendAsync(HttpMethod.Post, "/services/web/update", spec, Ct);
        Assert.Equal(400, missing);
        Assert.Contains("missing version", missingMessage, StringComparison.Ordinal);

        Assert.Equal((500, "rpc error: code = Unknown desc = update out of sequence"),
            await _host.SendAsync(HttpMethod.Post, $"/services/web/update?version={read.Version.Index - 1}", spec, Ct));

        var (rename, renameMessage) = await _host.SendAsync(HttpMethod.Post, $"/services/web/update?version={read.Version.Index}", spec.Replace("\"Name\":\"web\"", "\"Name\":\"web2\"", StringComparison.Ordinal), Ct);
        Assert.Equal(501, rename);
        Assert.Contains("renaming services is not supported", renameMessage, StringComparison.Ordinal);

        var global = JsonSerializer.Deserialize(spec, DockerJsonContext.Default.ServiceSpec)!;
        global.Mode = new ServiceMode { Global = new GlobalService() };
        var (modeChange, modeMessage) = await _host.PostAsync($"/services/web/update?version={read.Version.Index}", global, DockerJsonContext.Default.ServiceSpec, Ct);
        Assert.Equal(501, modeChange);
        Assert.Contains("service mode change is not allowed", modeMessage, StringComparison.Ordinal);

        var (noPrevious, noPreviousMessage) = await _host.SendAsync(HttpMethod.Post, $"/services/web/update?version={read.Version.Index}&rollback=previous", spec, Ct);
        Assert.Equal(400, noPrevious);
        Assert.Contains("does not have a previous spec", noPreviousMessage, StringComparison.Ordinal);

        Assert.Equal(400, (await _host.SendAsync(HttpMethod.Post, $"/services/web/update?version={read.Version.Index}&rollback=sideways", spec, Ct)).Status);
        Assert.Equal(400, (await _host.SendAsync(HttpMethod.Post, $"/services/web/update?version={read.Version.Index}&registryAuthFrom=nowhere", spec, Ct)).Status);
        Assert.Equal((404, "service nosuch not found"), await _host.SendAsync(HttpMethod.Post, "/services/nosuch/update?version=1", spec, Ct));
        Assert.Equal(read.Version.Index, (await _host.GetOkAsync<Service>("/services/web", Ct)).Version.Index);
    }

    [Fact]
    public async Task Rollback_RestoresThePreviousSpec_IgnoringTheBody()
    {
        await CreateAsync(Spec("web"));
        var read = await _host.GetOkAsync<Service>("/services/web", Ct);
        read.Spec.Mode.Replicated!.Replicas = 7;
        Assert.Equal(200, (await _host.PostAsync($"/services/web/update?version={read.Version.Index}", read.Spec, DockerJsonContext.Default.ServiceSpec, Ct)).Status);
        var updated = await _host.GetOkAsync<Service>("/services/web", Ct);

        var (status, _) = await _host.SendAsync(HttpMethod.Post, $"/services/web/update?version={updated.Version.Index}&rollback=previous", "{\"Name\":\"ignored\"}", Ct);

        Assert.Equal(200, status);
        var rolledBack = await _host.GetOkAsync<Service>("/services/web", Ct);
        Assert.Equal(2UL, rolledBack.Spec.Mode.Replicated!.Replicas);
        Assert.Equal(UpdateStates.RollbackStarted, rolledBack.UpdateStatus?.State);
    }

    [Fact]
    public async Task Remove_ByName_Is200Empty_ThenTheServiceIsGone()
    {
        var id = await CreateAsync(Spec("web"));

        Assert.Equal((200, string.Empty), await _host.SendAsync(HttpMethod.Delete, "/services/web", null, Ct));

        Assert.Null(_host.Plane.Store.View().Services.Get(id));
        Assert.Equal(404, (await _host.SendAsync(HttpMethod.Get, $"/services/{id}", null, Ct)).Status);
        Assert.Equal((404, "service web not found"), await _host.SendAsync(HttpMethod.Delete, "/services/web", null, Ct));
    }

    [Fact]
    public async Task Tasks_List_AppliesFilters_ServiceAndNodeByName()
    {
        var webId = await CreateAsync(Spec("web", labels: """{"com.docker.stack.namespace":"s"}"""));
        var apiId = await CreateAsync(Spec("api"));
        var worker = await _host.Plane.AddNodeAsync("worker-1");
        var view = _host.Plane.Store.View();
        var web = view.Services.Get(webId)!;
        var api = view.Services.Get(apiId)!;
        var web1 = Objects.Task(web, slot: 1, nodeId: worker.Id, state: Proto.TaskState.Running);
        var web2 = Objects.Task(web, slot: 2, state: Proto.TaskState.Pending);
        var oldWeb1 = Objects.Task(web, slot: 1, nodeId: worker.Id, state: Proto.TaskState.Shutdown, desired: Proto.TaskState.Shutdown);
        var api1 = Objects.Task(api, slot: 1, nodeId: _host.Plane.ManagerId, state: Proto.TaskState.Running);
        await _host.Plane.Store.UpdateAsync(tx =>
        {
            foreach (var task in new[] { web1, web2, oldWeb1, api1 })
            {
                tx.Create(task);
            }
        });

        Assert.Equal(Sorted(web1.Id, web2.Id, oldWeb1.Id, api1.Id), await TaskIdsAsync(null));
        Assert.Equal(Sorted(web1.Id, web2.Id, oldWeb1.Id), await TaskIdsAsync("""{"service":{"web":true}}"""));
        Assert.Equal(Sorted(web1.Id, web2.Id, oldWeb1.Id), await TaskIdsAsync($$$"""{"service":{"{{{webId}}}":true}}"""));
        Assert.Equal(Sorted(web1.Id, oldWeb1.Id), await TaskIdsAsync("""{"node":{"worker-1":true}}"""));
        Assert.Equal(Sorted(web1.Id, web2.Id, api1.Id), await TaskIdsAsync("""{"desired-state":{"running":true}}"""));
        Assert.Equal(Sorted(web1.Id, web2.Id, oldWeb1.Id), await TaskIdsAsync("""{"label":{"com.docker.stack.namespace=s":true}}"""));
        Assert.Equal([api1.Id], await TaskIdsAsync($$$"""{"id":{"{{{api1.Id[..8]}}}":true}}"""));
        Assert.Equal(Sorted(web1.Id, web2.Id), await TaskIdsAsync("""{"service":{"web":true},"desired-state":["running"]}"""));

        Assert.Equal((400, "invalid filter 'color'"), await _host.SendAsync(HttpMethod.Get, "/tasks?filters=" + Uri.EscapeDataString("""{"color":{"red":true}}"""), null, Ct));
        Assert.Equal(400, (await _host.SendAsync(HttpMethod.Get, "/tasks?filters=" + Uri.EscapeDataString("""{"desired-state":{"sleeping":true}}"""), null, Ct)).Status);
    }

    [Fact]
    public async Task Tasks_Inspect_ShowsDockersTaskShape_UnknownIs404()
    {
        var webId = await CreateAsync(Spec("web"));
        var task = Objects.Task(_host.Plane.Store.View().Services.Get(webId)!, slot: 2, state: Proto.TaskState.Pending);
        task.Status.Err = "no suitable node (scheduling constraints not satisfied on 1 node)";
        await _host.Plane.Store.UpdateAsync(tx => tx.Create(task));

        var (status, raw) = await _host.SendAsync(HttpMethod.Get, $"/tasks/{task.Id[..10]}", null, Ct);

        Assert.Equal(200, status);
        var json = JsonNode.Parse(raw)!.AsObject();
        Assert.Equal(task.Id, (string?)json["ID"]);
        Assert.Equal(webId, (string?)json["ServiceID"]);
        Assert.Equal(2, (int?)json["Slot"]);
        Assert.False(json.ContainsKey("NodeID"));
        Assert.Equal("running", (string?)json["DesiredState"]);
        Assert.Equal("pending", (string?)json["Status"]!["State"]);
        Assert.Equal("no suitable node (scheduling constraints not satisfied on 1 node)", (string?)json["Status"]!["Err"]);
        Assert.Equal("busybox", (string?)json["Spec"]!["ContainerSpec"]!["Image"]);
        Assert.NotNull(json["CreatedAt"]);
        Assert.Equal((404, "task nosuch not found"), await _host.SendAsync(HttpMethod.Get, "/tasks/nosuch", null, Ct));
    }

    [Fact]
    public async Task SwarmEndpoints_OnANodeThatIsNotAManager_Are503()
    {
        _host.Node.Control = null;

        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, "/services"),
            (HttpMethod.Post, "/services/create"),
            (HttpMethod.Get, "/services/web"),
            (HttpMethod.Post, "/services/web/update?version=1"),
            (HttpMethod.Delete, "/services/web"),
            (HttpMethod.Get, "/services/web/logs?stdout=1"),
            (HttpMethod.Get, "/tasks"),
            (HttpMethod.Get, "/tasks/abc"),
            (HttpMethod.Get, "/tasks/abc/logs?stdout=1"),
        })
        {
            var (status, message) = await _host.SendAsync(method, path, method == HttpMethod.Post ? Spec("web") : null, Ct);
            Assert.True(status == 503 && message == DockerApiException.NotAManagerMessage, $"{method} {path}: {status} {message}");
        }
    }

    [Theory]
    [InlineData("/distribution/busybox:latest/json", "image busybox:latest:")]
    [InlineData("/v1.50/distribution/registry.example.com:5000/team/app:1.0/json", "image registry.example.com:5000/team/app:1.0:")]
    public async Task Distribution_AnswersAQuick404_SoTheCliWarnsAndGoesOn(string path, string expected)
    {
        var (status, message) = await _host.SendAsync(HttpMethod.Get, path, null, Ct);

        Assert.Equal(404, status);
        Assert.StartsWith(expected, message, StringComparison.Ordinal);
    }

    private static string Spec(string name, string labels = "{}", string mode = """{"Replicated":{"Replicas":2}}""") =>
        $$$"""{"Name":"{{{name}}}","Labels":{{{labels}}},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","1000"]}},"Mode":{{{mode}}}}""";

    private async Task<string> CreateAsync(string spec)
    {
        var (status, body) = await _host.SendAsync(HttpMethod.Post, "/services/create", spec, Ct);
        Assert.True(status == 201, $"create: expected 201, got {status} {body}");
        return JsonSerializer.Deserialize(body, DockerJsonContext.Default.ServiceCreateResponse)!.ID;
    }

    private async Task<List<string>> ListIdsAsync(string path) =>
        [.. (await _host.GetOkAsync<List<Service>>(path, Ct)).OrderBy(s => s.Spec.Name, StringComparer.Ordinal).Select(s => s.ID)];

    private async Task<List<string>> TaskIdsAsync(string? filters)
    {
        var path = filters is null ? "/tasks" : "/tasks?filters=" + Uri.EscapeDataString(filters);
        return [.. (await _host.GetOkAsync<List<SwarmTask>>(path, Ct)).Select(t => t.ID).Order(StringComparer.Ordinal)];
    }

    private static List<string> Sorted(params string[] ids) => [.. ids.Order(StringComparer.Ordinal)];
}
