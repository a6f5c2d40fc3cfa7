()=>{I.variant=(a,r)=>{a&&null!=r&&R("variant",a,{variant:N["exp:"+a]=""+r})},I.identify=a=>{/^[\w.:-]{1,64}$/.test(a)&&(N.uid=a)}}
