# build.mk: the targets `sam build` runs, one per function of template.yaml
# (BuildMethod: makefile, CodeUri: .). The root Makefile includes this file.
#
# SAM calls `make build-<LogicalId>` with ARTIFACTS_DIR set to the directory
# whose contents become the function's code; provided.al2023 runs the
# executable named bootstrap from it. Each line below maps one LogicalId to
# its directory under functions/; keep them equal to template.yaml's
# Metadata.Dir (a test in internal/samtemplate checks it).

LAMBDA_GOOS   := linux
LAMBDA_GOARCH := arm64
# lambda.norpc drops the legacy Go RPC server, unused on provided.* runtimes.
LAMBDA_BUILD_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"

# lambda_function,<LogicalId>,<dir under functions/> defines build-<LogicalId>.
define lambda_function
.PHONY: build-$(1)
build-$(1):
	@test -n "$$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set; run this target through sam build" >&2; exit 1; }
	GOOS=$(LAMBDA_GOOS) GOARCH=$(LAMBDA_GOARCH) CGO_ENABLED=0 go build $(LAMBDA_BUILD_FLAGS) -o "$$(ARTIFACTS_DIR)/bootstrap" ./functions/$(2)
endef

$(eval $(call lambda_function,AuthorizerFunction,authorizer))
$(eval $(call lambda_function,CreateOutdialFunction,create-outdial))
$(eval $(call lambda_function,ListOutdialsFunction,list-outdials))
$(eval $(call lambda_function,GetOutdialFunction,get-outdial))
$(eval $(call lambda_function,UpdateOutdialFunction,update-outdial))
$(eval $(call lambda_function,UpdateOutdialCampaignFunction,update-outdial-campaign))
$(eval $(call lambda_function,UpdateOutdialDataFunction,update-outdial-data))
$(eval $(call lambda_function,DeleteOutdialFunction,delete-outdial))
$(eval $(call lambda_function,ArchiveOutdialFunction,archive-outdial))
$(eval $(call lambda_function,RestoreOutdialFunction,restore-outdial))
$(eval $(call lambda_function,AddTargetsFunction,add-targets))
$(eval $(call lambda_function,ListTargetsFunction,list-targets))
$(eval $(call lambda_function,GetTargetFunction,get-target))
$(eval $(call lambda_function,DeleteTargetFunction,delete-target))
$(eval $(call lambda_function,DeleteTargetsFunction,delete-targets))
$(eval $(call lambda_function,ClaimTargetsFunction,claim-targets))
$(eval $(call lambda_function,AddSuppressionsFunction,add-suppressions))
$(eval $(call lambda_function,CheckSuppressionsFunction,check-suppressions))
$(eval $(call lambda_function,DeleteSuppressionsFunction,delete-suppressions))
$(eval $(call lambda_function,ListSuppressionsFunction,list-suppressions))
$(eval $(call lambda_function,PutWebhookFunction,put-webhook))
$(eval $(call lambda_function,GetWebhookFunction,get-webhook))
$(eval $(call lambda_function,DeleteWebhookFunction,delete-webhook))
$(eval $(call lambda_function,RotateWebhookFunction,rotate-webhook))
$(eval $(call lambda_function,TestWebhookFunction,test-webhook))
$(eval $(call lambda_function,PublishEventsFunction,publish-events))
$(eval $(call lambda_function,DeliverWebhooksFunction,deliver-webhooks))
$(eval $(call lambda_function,ExpireLeasesFunction,expire-leases))
$(eval $(call lambda_function,ProcessOutcomesFunction,process-outcomes))
$(eval $(call lambda_function,PurgeTargetsFunction,purge-targets))
